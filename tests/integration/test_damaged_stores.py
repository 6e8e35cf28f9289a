"""Damaged derived stores heal themselves: a Feast registry or an online store cut short is set
aside and rebuilt from what it derives from, with a warning and an alert; the run goes on and
serves what it served before the damage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gameline.flows.common import artifact_key
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.records import records_for
from tests.builders import NOW, fatigue_league
from tests.servers import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def served_league(make: Callable[..., GamelineConfig]) -> tuple[GamelineConfig, Any]:
    """A league's first daily run, through to its predictions: the config and what it served."""
    from gameline.flows.pipeline import pipeline_flow

    config = fatigue_league(make, ingest=False)
    state = asyncio.run(pipeline_flow(config, now=NOW, return_state=True))
    first = state.result()
    assert first.predictions is not None and first.predictions.games > 0
    # The daily flow is async: each stage's artifact is created all the same (none is left an
    # un-awaited coroutine), one table or markdown each.
    kinds = {"daily": "markdown", "ingest": "markdown", "monitor": "markdown"}
    expected = {artifact_key(f"{stage}-{config.name}"): kind for stage, kind in kinds.items()}
    expected[artifact_key(f"predictions-{config.name}")] = "table"
    assert artifacts_of(state.state_details.flow_run_id) == expected
    return config, first.predictions


def artifacts_of(flow_run_id: Any) -> dict[str, str]:
    """The Prefect artifacts of one flow run: key -> type."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {str(a.key): str(a.type) for a in found}


def probabilities(served: Any) -> pd.Series:
    """A predict run's served probabilities by game."""
    return pd.DataFrame(served.predictions).set_index("game_id")["p_home"]


def cut_short(path: Path) -> None:
    """Keep the first third of a file, as a full disk or a killed copy leaves it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 3)


@pytest.mark.slow(seconds=30)
def test_a_damaged_registry_and_online_store_are_rebuilt_and_serve_the_same(
    sim_config: Callable[..., GamelineConfig], receiver: Receiver
) -> None:
    from gameline.flows.pipeline import pipeline_flow
    from gameline.flows.predict import predict_flow
    from gameline.tasks.serving.predictions import read_predictions

    config, first = served_league(sim_config)
    feast = state_paths(config).feast
    for name in ("registry.db", "online_store.db"):
        cut_short(feast / name)
    again = predict_flow(config, now=NOW)
    assert len(again.healed) == 2, again.healed
    assert "Feast registry" in again.healed[0] and "could not be read" in again.healed[0]
    assert "online store" in again.healed[1] and "rebuilt from the team states" in again.healed[1]
    assert any("rebuilt" in str(body["title"]) for body in receiver.bodies)
    assert sorted(p.name.split(".damaged-")[0] for p in feast.glob("*.damaged-*")) == [
        "online_store.db",
        "registry.db",
    ]  # kept beside, for a look
    before = probabilities(first)
    pd.testing.assert_series_equal(before, probabilities(again))
    table = read_predictions(records_for(config))
    assert len(table) == 2 * len(before)
    assert (table["feature_source"] == "online").all()  # read from the rebuilt online store
    daily = asyncio.run(pipeline_flow(config, now=NOW))  # and nothing is left to rebuild
    assert daily.ingest.healed == [] and daily.predictions is not None
    assert daily.predictions.healed == []


def test_a_damaged_or_foreign_mlflow_database_is_one_line_before_any_work(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """The MLflow database is a primary store: never rebuilt, named with what to do, within
    2 s and before Prefect, Feast or MLflow start."""
    import sqlite3
    import subprocess
    import sys
    import time

    from gameline.tasks.backends import mlflow_schema_head
    from gameline.tasks.registry.mlflow_registry import Registry
    from tests.builders import write_config

    config = sim_config()
    Registry.from_config(config).client.search_experiments()  # MLflow creates its database
    database = state_paths(config).mlflow / "mlflow.db"
    with sqlite3.connect(database) as db:  # the head this client writes, as MLflow wrote it
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == (
            mlflow_schema_head()
        )
    path = write_config(config, tmp_path / "c.yaml")

    def gameline(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "gameline.flows.cli", *args, "--config", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return done, time.monotonic() - started

    good = database.read_bytes()
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeed0000'")
    done, seconds = gameline("run")
    assert done.returncode == 1 and seconds < 10
    assert done.stderr.strip().splitlines() == [
        f"error: MLflow's database {database} has schema revision f00dfeed0000, this MLflow "
        f"client writes {mlflow_schema_head()}: run `mlflow db upgrade sqlite:///{database}` "
        "(after a backup) if the database is older, or install the MLflow version that wrote "
        "it if it is newer"
    ]
    database.write_bytes(good)
    cut_short(database)
    damaged = database.read_bytes()
    for command in (("run",), ("status", "--live")):
        done, seconds = gameline(*command)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot be read" in lines[0] and str(database) in lines[0]
        assert "Traceback" not in done.stderr
    assert database.read_bytes() == damaged  # never touched: nothing more is lost
    assert not state_paths(config).training.exists()  # no work was done


@pytest.mark.slow(seconds=30)
def test_a_backup_restored_into_an_empty_state_serves_the_same(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    import shutil

    from gameline.flows.predict import predict_flow
    from gameline.tasks.ops.backup import BackupError, backup, restore
    from gameline.tasks.ops.status import status_report

    config, first = served_league(sim_config)
    before = status_report(config).model_dump(mode="json")
    made = backup(config, tmp_path / "backup")
    assert made.files > 10 and (tmp_path / "backup" / "mlflow" / "mlflow.db").exists()
    assert not (tmp_path / "backup" / "feast").exists()  # derived: rebuilt, never backed up
    with pytest.raises(BackupError, match="exists"):
        backup(config, tmp_path / "backup")
    with pytest.raises(BackupError, match="not empty"):
        restore(config, tmp_path / "backup")
    shutil.rmtree(config.state_dir)  # the state folder is lost
    restored = restore(config, tmp_path / "backup")
    assert "online store" in restored.rebuilt
    assert status_report(config).model_dump(mode="json") == before
    again = predict_flow(config, now=NOW)
    pd.testing.assert_series_equal(probabilities(first), probabilities(again))
