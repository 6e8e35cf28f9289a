"""Benchmark: ingest + validate + features, wall time and peak memory per stage.

Each case runs in its own process (so peak RSS is that case's alone) through the same task
functions the ingest flow wraps. Prints a table; `--json` prints the raw numbers.

    python bench/bench_ingest.py                 # nba (if ../shared/data exists), 100k, 1M
    python bench/bench_ingest.py --cases sim-100k sim-300k sim-1M sim-3M   # time and memory curve
    python bench/bench_ingest.py --cases sim-10M   # the curve's end: about 3-4 min and 10-11 GB
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import DATA_DIR, bench_config, print_table

from gameline.flows.display import Steps

# Simulated sizes: teams x seasons x 41 games per team per season.
SIM_CASES = {
    "sim-100k": {"n_teams": 30, "n_seasons": 82},  # 100,860 games
    "sim-300k": {"n_teams": 100, "n_seasons": 74},  # 303,400 games
    "sim-1M": {"n_teams": 200, "n_seasons": 122},  # 1,000,400 games (schedule) before as-of
    "sim-3M": {"n_teams": 300, "n_seasons": 244},  # 3,001,200 games (for the curve: --cases)
    "sim-10M": {"n_teams": 1000, "n_seasons": 244},  # 10,004,000 games (--cases; about 10-11 GB)
}
DEFAULT_CASES = ["nba", "sim-100k", "sim-1M"]
AS_OF = "2026-11-23T00:00:00+00:00"


def case_config(case: str, state_dir: Path, data_dir: Path) -> Any:
    if case == "nba":
        return bench_config("nba", state_dir, data_dir)
    simulator = {**SIM_CASES[case], "as_of": AS_OF}
    return bench_config("default", state_dir, data_dir, source={"simulator": simulator})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: str, data_dir: Path) -> dict[str, Any]:
    """Run one case in this process; return stage timings, counts and peak RSS."""
    from gameline.tasks.data.ingest import stage_input, store_input
    from gameline.tasks.data.validate import check_input
    from gameline.tasks.features.team import write_team_features

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = case_config(case, Path(tmp) / "state", data_dir)
        now = datetime.now(UTC)
        start = time.perf_counter()
        staged = stage_input(config)
        timings["load+stage"] = time.perf_counter() - start
        mark = time.perf_counter()
        checked = check_input(config, staged.path, staged.label, now)
        timings["validate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        manifest = store_input(config, staged, checked, now)
        timings["store"] = time.perf_counter() - mark
        mark = time.perf_counter()
        features = write_team_features(config)
        timings["features"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - start
    return {
        "case": case,
        "games": manifest.read,
        "stored": manifest.new,
        "quarantined": manifest.quarantined,
        "feature_rows": features.rows,
        "seconds": timings,
        "peak_rss_mb": peak_rss_mb(),
    }


def print_results(results: list[dict[str, Any]]) -> None:
    stages = ["load+stage", "validate", "store", "features", "total"]
    rows = [
        [
            r["case"],
            f"{r['games']:,}",
            f"{r['feature_rows']:,}",
            *(f"{r['seconds'][k]:.2f}" for k in stages),
            f"{1e6 * r['seconds']['total'] / r['games']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        ]
        for r in results
    ]
    columns = ["case", "games", "feature rows", *stages, "µs/game", "peak MB"]
    print_table("Ingest + validate + features (wall s, peak RSS)", columns, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, choices=["nba", *SIM_CASES])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.data_dir)))
        return
    results = []
    with Steps() as progress:  # on stderr, when it is a terminal
        for number, case in enumerate(args.cases):
            progress(f"case {case}", number, len(args.cases))
            if case == "nba" and not (args.data_dir / "nba_games_2008_2025.csv").exists():
                print(
                    f"skipping nba: no {args.data_dir / 'nba_games_2008_2025.csv'}", file=sys.stderr
                )
                continue
            cmd = [sys.executable, __file__, "--one", case, "--data-dir", str(args.data_dir)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"case {case} failed:\n{done.stderr[-3000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:  # for scripts: only the JSON on stdout
        print(json.dumps(results, indent=2))
    else:
        print_results(results)


if __name__ == "__main__":
    main()
