"""Shared fixtures and builders: small simulated configs in tmp folders, ingested leagues, the
real-data folder, Prefect."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gameline.tasks.config import GamelineConfig, deep_update, load_config, state_paths
from tests.servers import Receiver

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
AS_OF = datetime.fromisoformat("2026-11-23T00:00:00+00:00")
NOW = datetime.fromisoformat("2026-11-23T12:00:00+00:00")

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


def small_sim_config(state_dir: Path, name: str = "default", **overrides: Any) -> GamelineConfig:
    """A small simulated league (8 teams, 2 seasons of 20 games) from configs/<name>.yaml with
    its state in `state_dir`; keyword overrides are merged into the YAML."""
    base: dict[str, Any] = {
        "state_dir": str(state_dir),
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


@pytest.fixture
def sim_config(tmp_path: Path) -> Callable[..., GamelineConfig]:
    """`small_sim_config` under tmp_path."""

    def make(name: str = "default", **overrides: Any) -> GamelineConfig:
        state = Path(overrides.pop("state_dir", tmp_path / "state"))
        return small_sim_config(state, name, **overrides)

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


@pytest.fixture
def harness_api(prefect_harness: None) -> dict[str, str]:
    """The environment that points a `gameline` child process at the session's Prefect API, so
    it starts no temporary server of its own (for tests whose subject is not that server)."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": str(PREFECT_API_URL.value())}


def ingested(config: GamelineConfig) -> pd.DataFrame:
    """Run ingest + features through the plain task functions; return the stored games."""
    from gameline.tasks.data.ingest import read_store, stage_input, store_input
    from gameline.tasks.data.validate import check_input
    from gameline.tasks.features.team import write_team_features

    staged = stage_input(config)
    checked = check_input(config, staged.path, staged.label, NOW)
    store_input(config, staged, checked, NOW)
    write_team_features(config)
    return read_store(state_paths(config).raw_games)


def training_frame(config: GamelineConfig, games: pd.DataFrame) -> pd.DataFrame:
    """The training set of `games` by the same point-in-time join the feature store runs
    (no Feast registry needed: for unit tests of the models)."""
    from datetime import timedelta

    from gameline.tasks.features.point_in_time import (
        entity_frame,
        in_game_order,
        labels,
        point_in_time_join,
    )
    from gameline.tasks.features.team import feature_columns

    names = feature_columns(config.features)
    entities = entity_frame(games)
    projections = [("home", "home_team", names), ("away", "away_team", names)]
    features = pd.read_parquet(state_paths(config).team_features)
    joined = point_in_time_join(
        entities, features, projections, timedelta(days=config.feast.ttl_days)
    )
    ordered = in_game_order(joined, entities)
    return ordered.merge(labels(games), on="game_id", how="left").reset_index(drop=True)


def write_config(config: GamelineConfig, path: Path) -> Path:
    """A config as a YAML file (what the CLI reads)."""
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def with_changes(config: GamelineConfig, **sections: dict[str, object]) -> GamelineConfig:
    """A config with some fields of some sections replaced."""
    updates = {
        name: getattr(config, name).model_copy(update=values) for name, values in sections.items()
    }
    return config.model_copy(update=updates)


def fatigue_league(
    sim_config: Callable[..., GamelineConfig],
    ingest: bool = True,
    **overrides: dict[str, object],
) -> GamelineConfig:
    """Four seasons of 16 teams (ingested unless told not to). Back-to-backs cost 4 points,
    which Elo cannot see, so a model with the rest features beats it on a 1,000-game window."""
    base: dict[str, object] = {
        "source": {
            "simulator": {
                "n_teams": 16,
                "n_seasons": 4,
                "games_per_team": 82,
                "fatigue_pts": 4.0,
                **overrides.pop("simulator", {}),
            }
        },
        "train": {"min_train_seasons": 3},
        "gate": {"window_games": 1000, "min_games": 300},
    }
    config = sim_config(**base, **overrides)
    if ingest:
        ingested(config)
    return config


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A local HTTP receiver standing in for the alert webhook (GAMELINE_ALERT_URL)."""
    hook = Receiver()
    monkeypatch.setenv("GAMELINE_ALERT_URL", hook.url)
    yield hook
    hook.server.shutdown()
