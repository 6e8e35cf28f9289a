"""Benchmark: the replay of the NBA seasons 2019-20 to 2021-22 under every retraining policy
(served log loss, Brier, ECE, retrains, promotions, alerts; by season; wall time and where it
goes), in a scratch state folder; the plot is written beside the tables.

    python bench/bench_replay.py [--from 2019-10-01] [--to 2022-06-30] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import DATA_DIR, bench_config, ingest, print_table


def rows(frame):  # type: ignore[no-untyped-def]
    return [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r] for r in frame.to_numpy()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="start", default="2019-10-01")
    parser.add_argument("--to", dest="end", default="2022-06-30")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=None, help="keep the state folder here")
    args = parser.parse_args()
    if not (args.data_dir / "nba_games_2008_2025.csv").exists():
        print(f"skipped: real game files not found in {args.data_dir}")
        return 0
    from gameline.flows.display import ReplayProgress
    from gameline.tasks.replay.engine import POLICIES
    from gameline.tasks.replay.report import policy_table, season_table, time_table, write_report
    from gameline.tasks.replay.run import replay

    folder = args.out or Path(tempfile.mkdtemp(prefix="gameline-replay-"))
    config = bench_config("nba", folder, args.data_dir)
    ingest(config)
    started = time.perf_counter()
    with ReplayProgress(list(POLICIES)) as progress:  # on stderr, when it is a terminal
        result = replay(
            config,
            date.fromisoformat(args.start),
            date.fromisoformat(args.end),
            list(POLICIES),
            progress=progress,
        )
    wall = time.perf_counter() - started
    policies, seasons, times = policy_table(result), season_table(result), time_table(result)
    print_table(f"NBA replay {args.start} .. {args.end}", list(policies.columns), rows(policies))
    print_table("Served log loss by season", list(seasons.columns), rows(seasons))
    print_table(f"Wall time {wall:.0f} s", list(times.columns), rows(times))
    print(f"plot: {write_report(result)['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
