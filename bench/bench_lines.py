"""Benchmark: the margin and total models against the bookmaker's lines, out of fold.

- NBA 2016-2022 (the file's closing spread and total; the same games as the winner model):
  log loss of P(cover) and P(over) next to a coin at the line (0.6931), accuracy against the
  spread and the total, ECE, return at -110, and each mean's error in points beside the line's.
- The simulated league, whose true scoring process is known: the same, next to two oracles:
  the truth (the true expected margin, which no model of the results can know: the lines are
  posted with 1.5 points of noise around it) and the line-centred truth (the true distribution
  around the line: what a model that knows no more than the line but has the distribution
  right scores).

The walk-forward folds run as the train flow runs them (the same task functions), without
Prefect or MLflow, on a Feast training set built in a scratch state folder.

    python bench/bench_lines.py [--data-dir ../shared/data] [--sim-seasons 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import DATA_DIR, bench_config, ingest, print_table

from gameline.tasks.model.line_scores import line_family

SIDES = (("cover", "margin"), ("over", "total"))


def out_of_fold(config: Any) -> pd.DataFrame:
    """Out-of-fold predictions of every family on the config's Feast training set."""
    from gameline.tasks.model.dataset import build_training_set
    from gameline.tasks.model.inputs import selected_features
    from gameline.tasks.model.train import walk_forward

    ingest(config)
    path, _ = build_training_set(config)
    return walk_forward(pd.read_parquet(path), selected_features(config), config.train)


def score_rows(oof: pd.DataFrame, family: str, extra: dict[str, np.ndarray]) -> list[list[str]]:
    """One row per side for the family, then one per named extra probability (an oracle)."""
    from gameline.tasks.model.line_scores import COIN, bets_at_110, line_labels
    from gameline.tasks.model.metrics import accuracy, expected_calibration_error, log_loss
    from gameline.tasks.model.targets import outcome

    rows = []
    for side, target in SIDES:
        y = line_labels(oof, target)
        values = outcome(oof, target)
        line = oof["home_spread" if target == "margin" else "total_line"].to_numpy(dtype=float)
        market = -line if target == "margin" else line
        judged = ~np.isnan(y)
        mean = oof[f"{target}_{family}"].to_numpy(dtype=float)
        known = ~np.isnan(line) & ~np.isnan(values)
        error = np.sqrt(np.mean((values - mean)[known] ** 2))
        line_error = np.sqrt(np.mean((values - market)[known] ** 2))
        for label, p in {f"{family}: P({side})": oof[f"{side}_{family}"], **{
            f"{name}: P({side})": probs[side] for name, probs in extra.items()
        }}.items():  # fmt: skip
            p = np.asarray(p, dtype=float)
            bets, roi = bets_at_110(y, p, 0.0)
            rows.append(
                [
                    label,
                    f"{int(judged.sum()):,}",
                    f"{log_loss(y, p):.4f}",
                    f"{log_loss(y, p) - COIN:+.4f}",
                    f"{accuracy(y, p):.3f}",
                    f"{expected_calibration_error(y, p):.4f}",
                    f"{bets:,}",
                    "-" if not bets else f"{roi:+.1%}",
                    f"{error:.2f} ({line_error:.2f})" if label.startswith(family) else "",
                ]
            )
    return rows


COLUMNS = [
    "model",
    "games",
    "log loss",
    "vs coin",
    "accuracy",
    "ECE",
    "bets -110",
    "return",
    "error, points (line's)",
]


def nba(data_dir: Path) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(
            "nba",
            Path(tmp) / "state",
            data_dir,
            train={"first_test_season": 2016, "last_test_season": 2022},
        )
        oof = out_of_fold(config)
    return score_rows(oof, line_family(oof, config.mlflow.final_family) or "linear", {})


def simulated(seasons: int) -> tuple[list[list[str]], list[list[str]]]:
    from datetime import datetime

    from gameline.tasks.data.simulator import true_line_probabilities
    from gameline.tasks.model.targets import Distribution, line_probabilities

    as_of = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(
            "default",
            Path(tmp) / "state",
            DATA_DIR,
            source={"simulator": {"n_seasons": seasons, "as_of": as_of}},
        )
        oof = out_of_fold(config)
    sim = config.source.simulator
    truth = true_line_probabilities(sim, config.league).set_index("game_id")
    truth = truth.reindex(oof["game_id"].astype(str))
    spread = oof["home_spread"].to_numpy(dtype=float)
    total = oof["total_line"].to_numpy(dtype=float)
    centred = {
        "cover": line_probabilities(
            Distribution(kind="normal", sd=sim.margin_sd), "margin", -spread, total, spread
        )[0],
        "over": line_probabilities(
            Distribution(kind="normal", sd=sim.total_sd),
            "total",
            total,
            -spread,
            total,
        )[0],
    }
    extra = {
        "oracle (true expected margin)": {
            "cover": truth["p_cover_true"].to_numpy(),
            "over": truth["p_over_true"].to_numpy(),
        },
        "oracle centred on the line": centred,
    }
    family = line_family(oof, config.mlflow.final_family) or "linear"
    return score_rows(oof, family, extra), clv_rows(oof, family)


def clv_rows(oof: pd.DataFrame, family: str) -> list[list[str]]:
    """Bets at the opening lines (break-even at -110, no extra edge) against the close."""
    from gameline.tasks.model.line_scores import line_clv

    found = line_clv(oof, 0.0)
    rows = []
    for side in ("cover", "over"):
        key = f"{side}_{family}"
        if f"{key}_clv_bets" not in found:
            continue
        rows.append(
            [
                f"{family}: P({side}) at the open",
                f"{found[f'{side}_both_lines_games']:,.0f}",
                f"{found[f'{key}_clv_bets']:,.0f}",
                f"{found[f'{key}_clv_points']:+.2f}",
                f"{found[f'{key}_clv_beat_share']:.0%}",
                f"{found[f'{key}_clv_open_roi']:+.1%}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--sim-seasons", type=int, default=10)
    args = parser.parse_args()
    if (args.data_dir / "nba_games_2008_2025.csv").exists():
        title = "NBA 2016-2022 out of fold at the closing lines (a coin: 0.6931)"
        print_table(title, COLUMNS, nba(args.data_dir))
    else:
        print(f"NBA skipped: no {args.data_dir / 'nba_games_2008_2025.csv'}")
    scored, clv = simulated(args.sim_seasons)
    print_table(
        f"Simulated league, {args.sim_seasons} seasons, out of fold at its lines", COLUMNS, scored
    )
    print_table(
        "Simulated league: bets at the opening lines against the closing ones",
        ["model", "games with both", "bets", "line moved their way, points", "beat the close",
         "return at the open, -110"],
        clv,
    )  # fmt: skip


if __name__ == "__main__":
    main()
