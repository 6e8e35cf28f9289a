"""Benchmark: the user's feature sources.

1. The NBA file with three extra sources (its closing lines as game facts; a team timeline of
   daily rating updates; box scores per team from the file's quarter scores, as team game
   stats): ingest time of each source, the training set's build time with and without them,
   and the online read of one game (every view: both teams' states and timelines and box-score
   aggregates, the game's facts) p50/p99, next to the team states alone.
2. Peak memory of ingesting a 1,000,000-row team timeline (a child process per run, so each
   peak is its own).
3. The simulated league's hidden factor (the demo's config): walk-forward log loss with
   results only, with the star timeline, with every source, and the simulator's true
   probabilities on the same games; how much of the star's share of the gap the source wins.

    python bench/bench_sources.py [--calls 2000] [--rows 1000000] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import DATA_DIR, REPO, bench_config, ingest, percentiles_ms, print_table

NBA_FILE = "nba_games_2008_2025.csv"


def extra_files(data_dir: Path, folder: Path) -> tuple[Path, Path]:
    """A timeline of daily team ratings and box scores from the file's quarter scores."""
    raw = pd.read_csv(data_dir / NBA_FILE)
    rng = np.random.default_rng(1)
    teams = sorted(set(raw["home"]) | set(raw["away"]))
    days = pd.date_range(raw["date"].min(), raw["date"].max(), freq="D", tz="UTC")
    stamps = np.repeat(days + pd.Timedelta(hours=12), len(teams))
    timeline = pd.DataFrame(
        {
            "team": np.tile(teams, len(days)),
            "known_at": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rating": rng.normal(0, 1, len(stamps)).round(3),
        }
    )
    timeline_path = folder / "ratings.csv"
    timeline.to_csv(timeline_path, index=False)
    sides = []
    for side, other in (("home", "away"), ("away", "home")):
        sides.append(
            pd.DataFrame(
                {
                    "date": raw["date"],
                    "team": raw[side],
                    "first_half": raw[f"q1_{side}"] + raw[f"q2_{side}"],
                    "fourth": raw[f"q4_{side}"],
                    "allowed_first_half": raw[f"q1_{other}"] + raw[f"q2_{other}"],
                }
            )
        )
    box_path = folder / "box.csv"
    pd.concat(sides).to_csv(box_path, index=False)
    return timeline_path, box_path


def nba_sources(timeline: Path, box: Path) -> list[dict[str, Any]]:
    lines = bench_config("nba_lines", Path("."), DATA_DIR).features.sources[0]
    return [
        lines.model_dump(mode="json", exclude_defaults=True),
        {
            "name": "ratings",
            "kind": "team_timeline",
            "path": str(timeline),
            "features": {"rating": {"min": -10, "max": 10}},
        },
        {
            "name": "box",
            "kind": "team_game_stats",
            "path": str(box),
            "columns": {"date": "date", "team": "team"},
            "features": {
                "first_half": {"min": 0, "max": 120},
                "fourth": {"min": 0, "max": 70},
                "allowed_first_half": {"min": 0, "max": 120},
            },
            "windows": [10],
        },
    ]


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def nba_rows(data_dir: Path, calls: int) -> list[list[str]]:
    from gameline.tasks.config import state_paths
    from gameline.tasks.data.feature_sources import ingest_source
    from gameline.tasks.data.ingest import read_store
    from gameline.tasks.features.context import game_context
    from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time
    from gameline.tasks.features.team import write_team_features

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timeline, box = extra_files(data_dir, folder)
        config = bench_config(
            "nba",
            folder / "state",
            data_dir,
            features={"sources": nba_sources(timeline, box)},
        )
        ingest(config)
        now = datetime.now(UTC)
        for source in config.features.sources:
            result, seconds = timed(lambda s=source: ingest_source(config, s, now))
            rows.append(
                [f"ingest {source.name} ({source.kind})", f"{result.manifest.read:,} rows",
                 f"{seconds:.2f} s"]
            )  # fmt: skip
        write_team_features(config)
        games = read_store(state_paths(config).raw_games)
        context = game_context(games, config.features, config.league)
        plain = TeamFeatureStore.from_config(
            config.model_copy(
                update={"features": config.features.model_copy(update={"sources": []})}
            )
        )
        store = TeamFeatureStore.from_config(config)
        for label, s in (
            ("training set, team states only", plain),
            ("training set, + 3 sources", store),
        ):
            s.apply()
            s.training_set(games.head(100), context)  # warm: registry and parquet metadata
            _, seconds = timed(lambda s=s: s.training_set(games, context))
            rows.append([label, f"{len(games):,} games", f"{seconds:.2f} s"])
        end = latest_feature_time(state_paths(config).team_states) + timedelta(seconds=1)
        store.refresh_online(end)
        now = end
        game = games.tail(1)
        home, away, game_id = (str(game[c].iloc[0]) for c in ("home_team", "away_team", "game_id"))

        def read_states() -> Any:
            return store.reader().read([home, away])

        def read_all() -> Any:
            out = [store.reader().read([home, away])]
            for view in store.views:
                keys = [game_id] if view.join_key == "game_id" else [home, away]
                out.append(store.source_reader(view).read(keys))
            return out

        for label, fn in (
            ("online read of one game: team states", read_states),
            ("online read of one game: + 3 sources", read_all),
            (
                "online features of one game (+ pregame)",
                lambda: store.online_features(game, context, now),
            ),
        ):
            p50, p99 = percentiles_ms(fn, calls)
            rows.append([label, f"p50 {p50:.2f} ms", f"p99 {p99:.2f} ms"])
    return rows


CHILD = """
import json, resource, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
sys.path.insert(0, {bench!r})
from common import bench_config
from gameline.tasks.data.feature_sources import ingest_source
from gameline.tasks.features.team import write_team_features
config = bench_config("default", Path({state!r}), Path("."), features={{"sources": [{source!r}]}})
start = time.perf_counter()
result = ingest_source(config, config.features.sources[0], datetime.now(UTC))
write_team_features(config)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"rows": result.manifest.read, "stored": result.stored, "seconds": seconds,
                  "peak_mb": peak}}))
"""


def memory_rows(rows: int) -> list[list[str]]:
    """Ingest a `rows`-row timeline for the simulated league in a child process."""
    from gameline.tasks.config import load_config
    from gameline.tasks.data.simulator import team_codes

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = load_config(REPO / "configs" / "default.yaml", environ={})
        teams = team_codes(base.source.simulator.n_teams)
        rng = np.random.default_rng(0)
        stamps = pd.date_range("2020-01-01", periods=rows, freq="min", tz="UTC")
        pd.DataFrame(
            {
                "team": rng.choice(teams, rows),
                "known_at": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rating": rng.normal(0, 1, rows).round(3),
            }
        ).to_parquet(folder / "ratings.parquet")
        state = folder / "state"
        config = bench_config("default", state, Path("."), features={"sources": []})
        ingest(config)  # the games first: the timeline is checked against them
        source = {
            "name": "ratings",
            "kind": "team_timeline",
            "path": str(folder / "ratings.parquet"),
            "features": {"rating": {"min": -10, "max": 10}},
        }
        code = CHILD.format(bench=str(REPO / "bench"), state=str(state), source=source)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
    return [
        [f"ingest a {found['rows']:,}-row timeline (+ its Feast table)",
         f"{found['seconds']:.1f} s", f"peak {found['peak_mb']:,.0f} MB"]
    ]  # fmt: skip


def factor_rows() -> list[list[str]]:
    """Walk-forward log loss on the demo's league: results only, + star, + every source, and
    the simulator's truth (with and without the star) on the same out-of-fold games."""
    from gameline.tasks.contracts import LABEL
    from gameline.tasks.data.feature_sources import ingest_sources
    from gameline.tasks.data.simulator import true_probabilities
    from gameline.tasks.features.team import write_team_features
    from gameline.tasks.model.dataset import build_training_set
    from gameline.tasks.model.inputs import selected_features
    from gameline.tasks.model.metrics import log_loss
    from gameline.tasks.model.train import walk_forward
    from gameline.tasks.model.worth import source_worth

    with tempfile.TemporaryDirectory() as tmp:
        as_of = {"source": {"simulator": {"as_of": "2026-12-05T06:00:00"}}}
        config = bench_config("default", Path(tmp), Path("."), **as_of)
        ingest(config)
        ingest_sources(config, datetime.now(UTC))
        write_team_features(config)
        path, _ = build_training_set(config)
        frame = pd.read_parquet(path)
        features = selected_features(config)
        family = config.mlflow.final_family
        sets = {
            "results only": [f for f in features if not f.startswith("team__")],
            "+ star timeline": [f for f in features if not f.startswith("team__") or "star" in f],
            "+ every source": features,
        }
        losses, games = {}, None
        for name, names in sets.items():
            oof = walk_forward(frame, names, config.train)
            games = oof["game_id"] if games is None else games
            losses[name] = log_loss(oof[LABEL].to_numpy(), oof[f"p_{family}"].to_numpy())
        y = frame.set_index("game_id").loc[games, LABEL].to_numpy()
        sim, league = config.source.simulator, config.league
        for name, blind in (
            ("simulator's truth (the oracle)", False),
            ("the oracle blind to the star", True),
        ):
            truth = true_probabilities(sim, league, without_star=blind).set_index("game_id")
            losses[name] = log_loss(y, truth.loc[games, "p_true"].to_numpy())
        worth = source_worth(frame, features, config, samples=2000)
    star = next(w for w in worth.sources if w.source == "star")
    rows = [[name, f"{ll:.4f}", ""] for name, ll in losses.items()]
    rows.append(
        ["star's worth beside every other source (--worth)", f"{star.change:+.4f}",
         f"[{star.low:+.4f}, {star.high:+.4f}]"]
    )  # fmt: skip
    results, starred = losses["results only"], losses["+ star timeline"]
    oracle, blind = losses["simulator's truth (the oracle)"], losses["the oracle blind to the star"]
    rows.append(
        [
            "the whole gap to the oracle won by the star timeline",
            f"{(results - starred) / (results - oracle):.0%}",
            f"{results - starred:.4f}",
        ]
    )
    rows.append(
        [
            "the star's own share of the gap (blind oracle - oracle) won",
            f"{(results - starred) / (blind - oracle):.0%}",
            f"of {blind - oracle:.4f}",
        ]
    )
    return rows  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--skip", nargs="*", default=[], choices=["nba", "memory", "factor"])
    args = parser.parse_args()
    if "nba" not in args.skip:
        if (args.data_dir / NBA_FILE).exists():
            print_table("NBA with three feature sources", ["measure", "size", "value"],
                        nba_rows(args.data_dir, args.calls))  # fmt: skip
        else:
            print(f"skipped the NBA part: {args.data_dir / NBA_FILE} not found")
    if "memory" not in args.skip:
        print_table("A large feature file", ["measure", "time", "memory"], memory_rows(args.rows))
    if "factor" not in args.skip:
        print_table("The simulated hidden factor (demo config, logistic, out of fold)",
                    ["model", "log loss", "interval / gap"], factor_rows())  # fmt: skip


if __name__ == "__main__":
    main()
