"""Benchmark: how fast the operator's commands answer (goal: `gameline status` and
`gameline doctor` in <= 2 s), as a user types them: a new process each time, on a config
whose pipeline has run (`make demo` first for the default).

    python bench/bench_ops.py [--config configs/default.yaml] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, print_table

GAMELINE = Path(sys.executable).parent / "gameline"
COMMANDS = {
    "gameline --help": ["--help"],
    "gameline doctor": ["doctor"],
    "gameline status": ["status"],
    "gameline status --live": ["status", "--live"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for label, command in COMMANDS.items():
        extra = [] if command == ["--help"] else ["--config", args.config]
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run(
                [str(GAMELINE), *command, *extra], cwd=REPO, capture_output=True, text=True
            )
            times.append(time.perf_counter() - start)
            if done.returncode not in (0, 1):  # doctor exits 1 when a backend fails
                raise SystemExit(f"{label} failed:\n{done.stderr[-2000:]}")
        rows.append([label, str(args.runs), f"{statistics.median(times):.2f}", f"{max(times):.2f}"])
    print_table(
        f"Operator commands on {args.config} (seconds, a new process each run; goal <= 2 s)",
        ["command", "runs", "median s", "max s"],
        rows,
    )


if __name__ == "__main__":
    main()
