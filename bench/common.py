"""Helpers the benchmarks share: load a config into a scratch state folder, ingest a source
file the way the ingest flow does (without Prefect's overhead), print a table."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gameline.flows.quiet import no_telemetry  # noqa: E402

no_telemetry()  # an offline machine: no telemetry look-ups


def bench_config(name: str, state_dir: Path, data_dir: Path, **overrides: Any) -> Any:
    """`configs/<name>.yaml` with its state in `state_dir`, reading `data_dir`."""
    from gameline.tasks.config import load_config

    values = {"state_dir": str(state_dir), "data_dir": str(data_dir), **overrides}
    return load_config(REPO / "configs" / f"{name}.yaml", overrides=values, environ={})


def ingest(config: Any) -> Any:
    """Stage, validate and store the config's source, then write the team features; returns
    the manifest."""
    from gameline.tasks.data.ingest import stage_input, store_input
    from gameline.tasks.data.validate import check_input
    from gameline.tasks.features.team import write_team_features

    now = datetime.now(UTC)
    staged = stage_input(config)
    manifest = store_input(config, staged, check_input(config, staged.path, staged.label, now), now)
    write_team_features(config)
    return manifest


def percentiles_ms(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    """p50 and p99 latency of `fn` in milliseconds over `calls` calls (after 50 warm-ups)."""
    import numpy as np

    for _ in range(50):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table: first column left-aligned, the rest right-aligned."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)
