"""Shared fixtures: small simulated configs in tmp folders, the real-data folder, Prefect."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gameline.tasks.config import GamelineConfig, deep_update, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
AS_OF = datetime.fromisoformat("2026-11-23T00:00:00+00:00")

for key, value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(key, value)


def real_data_dir() -> Path:
    """Where the real game files are: GAMELINE_DATA_DIR, else ../shared/data beside the repo."""
    return Path(os.environ.get("GAMELINE_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture
def data_dir() -> Path:
    """The real-data folder; the test is skipped, with the reason shown, where it is absent."""
    folder = real_data_dir()
    if not (folder / "nba_games_2008_2025.csv").exists():
        pytest.skip(f"real game files not found in {folder} (set GAMELINE_DATA_DIR)")
    return folder


@pytest.fixture
def sim_config(tmp_path: Path) -> Callable[..., GamelineConfig]:
    """A small simulated league under tmp_path, from configs/<name>.yaml (default: default);
    keyword overrides are merged into the YAML."""

    def make(name: str = "default", **overrides: Any) -> GamelineConfig:
        base: dict[str, Any] = {
            "state_dir": str(tmp_path / "state"),
            "source": {
                "simulator": {
                    "n_teams": 8,
                    "n_seasons": 2,
                    "games_per_team": 20,
                    "as_of": AS_OF.isoformat(),
                }
            },
        }
        merged = deep_update(base, overrides)
        return load_config(CONFIGS / f"{name}.yaml", overrides=merged, environ={})

    return make


@pytest.fixture
def real_config(tmp_path: Path, data_dir: Path) -> Callable[[str], GamelineConfig]:
    """A real-file config (nba, nfl) with its state under tmp_path."""

    def make(name: str) -> GamelineConfig:
        return load_config(
            CONFIGS / f"{name}.yaml",
            environ={},
            overrides={"state_dir": str(tmp_path / name), "data_dir": str(data_dir)},
        )

    return make


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
