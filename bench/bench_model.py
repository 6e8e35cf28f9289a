"""Benchmark: model quality on the real files, and the wall time of the whole train flow.

NBA test seasons 2016-2022 and NFL 2015-2021, out of fold (walk-forward by season, results
only): log loss, Brier, accuracy of every model family, the home-rate and Elo baselines, the
file's own FiveThirtyEight probability (NFL `elo_prob1`) and the market (vig-free closing
moneyline) where odds exist, always on the same games. Each league runs the real train flow
(Prefect, Feast training set, concurrent folds, MLflow, registry) in a scratch state folder.

    python bench/bench_model.py [--leagues nba nfl] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import DATA_DIR, bench_config, ingest, print_table

from gameline.flows.display import Steps

# league: (config, file, first and last test season of the quality anchors)
LEAGUES = {
    "nba": ("nba", "nba_games_2008_2025.csv", 2016, 2022),
    "nfl": ("nfl", "nfl_elo_1920_2022.csv", 2015, 2021),
}
ROWS = [
    ("home_rate", "home-win rate (baseline)"),
    ("elo", "Elo logistic (baseline)"),
    ("logistic", "logistic regression"),
    ("lightgbm", "LightGBM + calibration"),
    ("blend", "blend (registered family)"),
    ("fivethirtyeight", "FiveThirtyEight (file)"),
]
MARKET = "market (closing, vig removed)"


def oof_predictions(run_id: str, config: Any) -> pd.DataFrame:
    """The out-of-fold predictions the train flow logged to MLflow for `run_id`."""
    from gameline.tasks.registry.mlflow_registry import Registry

    return pd.read_parquet(Registry.from_config(config).download(run_id, "oof_predictions.parquet"))


def quality_rows(oof: pd.DataFrame, games: pd.DataFrame) -> list[list[str]]:
    """One row per model on every anchor game, then every model and the market on the games
    with odds (when some have them)."""
    from gameline.tasks.model.metrics import accuracy, brier, log_loss

    reference = games.set_index("game_id")["ref_p_home"].astype("float64")
    oof = oof.assign(p_fivethirtyeight=reference.reindex(oof["game_id"]).to_numpy())
    y = oof["home_win"].to_numpy(dtype=float)

    def row(label: str, p: np.ndarray, mask: np.ndarray, subset: str) -> list[str]:
        return [
            label,
            subset,
            f"{int(mask.sum()):,}",
            f"{log_loss(y[mask], p[mask]):.4f}",
            f"{brier(y[mask], p[mask]):.4f}",
            f"{accuracy(y[mask], p[mask]):.3f}",
        ]

    rows = []
    everything = np.ones(len(oof), dtype=bool)
    for name, label in ROWS:
        p = oof[f"p_{name}"].to_numpy(dtype=float)
        if np.isnan(p).all():
            continue
        rows.append(row(label, p, everything & ~np.isnan(p), "all games"))
    if "p_market" in oof and oof["p_market"].notna().any():
        priced = oof["p_market"].notna().to_numpy()
        if priced.all():  # the rows above are already on the same games as the market
            extra = [("with_market", "logistic + market price"), ("market", MARKET)]
        else:
            extra = [*ROWS[1:5], ("with_market", "logistic + market price"), ("market", MARKET)]
        subset = "all games" if priced.all() else "with odds"
        for name, label in extra:
            rows.append(row(label, oof[f"p_{name}"].to_numpy(dtype=float), priced, subset))
    return rows


def run_league(league: str, data_dir: Path) -> tuple[list[list[str]], dict[str, Any]]:
    from gameline.flows.train import train_flow
    from gameline.tasks.config import state_paths
    from gameline.tasks.data.ingest import read_store

    name, _, first, last = LEAGUES[league]
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(
            name,
            Path(tmp) / "state",
            data_dir,
            train={"first_test_season": first, "last_test_season": last},
        )
        start = time.perf_counter()
        manifest = ingest(config)
        ingest_seconds = time.perf_counter() - start
        start = time.perf_counter()
        record = train_flow(config)
        train_seconds = time.perf_counter() - start
        oof = oof_predictions(record.run_id, config)
        rows = quality_rows(oof, read_store(state_paths(config).raw_games))
    timing = {
        "league": league,
        "games": manifest.new,
        "folds": record.folds,
        "ingest": ingest_seconds,
        "train": train_seconds,
    }
    return rows, timing


def timing_row(t: dict[str, Any]) -> list[str]:
    seconds = [f"{t['ingest']:.1f}", f"{t['train']:.1f}"]
    return [t["league"], f"{t['games']:,}", str(t["folds"]), *seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leagues", nargs="*", default=list(LEAGUES), choices=list(LEAGUES))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    timings = []
    with ExitStack() as stack:
        stack.enter_context(prefect_test_harness(server_startup_timeout=60))
        progress = stack.enter_context(Steps())  # on stderr, when it is a terminal
        for number, league in enumerate(args.leagues):
            progress(f"{league}: ingest and train", number, len(args.leagues))
            _, file, first, last = LEAGUES[league]
            if not (args.data_dir / file).exists():
                sys.exit(f"needs {args.data_dir / file}")
            rows, timing = run_league(league, args.data_dir)
            timings.append(timing)
            title = f"{league.upper()} out of fold, test seasons {first}-{last} (results only)"
            columns = ["model", "games", "n", "log loss", "Brier", "accuracy"]
            print_table(title, columns, rows)
    print_table(
        "Wall time (s): ingest (no Prefect) and the whole train flow",
        ["league", "games", "folds", "ingest", "train flow"],
        [timing_row(t) for t in timings],
    )


if __name__ == "__main__":
    main()
