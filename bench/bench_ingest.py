"""Benchmark: ingest + validate + features, wall time and peak memory per stage.

Each case runs in its own process (so peak RSS is that case's alone) through the same task
functions the ingest flow wraps. Prints a table; `--json` prints the raw numbers.

    python bench/bench_ingest.py                 # nba (if ../shared/data exists), 100k, 1M
    python bench/bench_ingest.py --cases sim-100k
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Simulated sizes: teams x seasons x 41 games per team per season.
SIM_CASES = {
    "sim-100k": {"n_teams": 30, "n_seasons": 82},  # 100,860 games
    "sim-1M": {"n_teams": 200, "n_seasons": 122},  # 1,000,400 games (schedule) before as-of
}
AS_OF = "2026-11-23T00:00:00+00:00"


def case_config(case: str, state_dir: Path, data_dir: Path) -> Any:
    from tasks.config import load_config

    overrides: dict[str, Any] = {"state_dir": str(state_dir), "data_dir": str(data_dir)}
    if case == "nba":
        return load_config(REPO / "configs" / "nba.yaml", overrides=overrides, environ={})
    overrides["source"] = {"simulator": {**SIM_CASES[case], "as_of": AS_OF}}
    return load_config(REPO / "configs" / "default.yaml", overrides=overrides, environ={})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: str, data_dir: Path) -> dict[str, Any]:
    """Run one case in this process; return stage timings, counts and peak RSS."""
    from tasks.features import write_team_features
    from tasks.ingest import stage_input, store_input
    from tasks.validate import check_input

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


def print_table(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    stages = ["load+stage", "validate", "store", "features", "total"]
    table = Table(title="Ingest + validate + features (wall s, peak RSS)")
    for col in ["case", "games", "feature rows", *stages, "µs/game", "peak MB"]:
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in results:
        s = r["seconds"]
        table.add_row(
            r["case"],
            f"{r['games']:,}",
            f"{r['feature_rows']:,}",
            *(f"{s[k]:.2f}" for k in stages),
            f"{1e6 * s['total'] / r['games']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        )
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["nba", *SIM_CASES])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.data_dir)))
        return
    results = []
    for case in args.cases:
        if case == "nba" and not (args.data_dir / "nba_games_2008_2025.csv").exists():
            print(f"skipping nba: no {args.data_dir / 'nba_games_2008_2025.csv'}")
            continue
        cmd = [sys.executable, __file__, "--one", case, "--data-dir", str(args.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"case {case} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps(results, indent=2) if args.json else "", end="")
    print_table(results)


if __name__ == "__main__":
    main()
