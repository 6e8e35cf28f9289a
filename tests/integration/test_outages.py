"""A backend that is down fails in seconds with one line naming it and its address (never a
password), exit code 1, before any work and with nothing written; not after minutes of a client
library's retries (MLflow's took 100-120 s, Feast's and Redis's 30-45 s with our own retries)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gameline.tasks.backends import BackendUnavailable
from gameline.tasks.config import GamelineConfig, state_paths
from tests.conftest import ingested, write_config
from tests.servers import BIN, database, free_port, need_services, quiet_env

pytestmark = pytest.mark.services

CLOSED = free_port()  # nothing listens here
OUTAGES = {
    "mlflow store (PostgreSQL)": (
        "GAMELINE_MLFLOW_TRACKING_URI",
        f"postgresql+psycopg://postgres:pw-x@127.0.0.1:{CLOSED}/gameline_mlflow",
        "MLflow's tracking store at postgresql+psycopg://postgres:***@127.0.0.1:",
    ),
    "mlflow tracking server": (
        "GAMELINE_MLFLOW_TRACKING_URI",
        f"http://127.0.0.1:{CLOSED}",
        f"the MLflow tracking server at http://127.0.0.1:{CLOSED}/health",
    ),
    "feast registry (PostgreSQL)": (
        "GAMELINE_FEAST_REGISTRY_URL",
        f"postgresql+psycopg://postgres@127.0.0.1:{CLOSED}/gameline",
        "Feast's SQL registry at postgresql+psycopg://postgres@127.0.0.1:",
    ),
    "online store (Redis)": (
        "GAMELINE_REDIS_CONNECTION",
        f"redis://:pw-x@127.0.0.1:{CLOSED}/0",
        "Feast's online store (Redis) at redis://:***@127.0.0.1:",
    ),
    "missing database": (
        "GAMELINE_MLFLOW_TRACKING_URI",
        "postgresql+psycopg://postgres@127.0.0.1:5432/gl_no_such_database",
        "createdb gl_no_such_database",
    ),
}


@pytest.mark.parametrize("case", sorted(OUTAGES))
@pytest.mark.parametrize("command", [["run"], ["train"], ["status", "--live"]])
def test_a_backend_down_fails_in_seconds_with_one_line(
    case: str, command: list[str], sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    need_services()
    variable, value, named = OUTAGES[case]
    config = sim_config("production")
    path = write_config(config, tmp_path / "production.yaml")
    # Every other backend up: MLflow in a SQLite file (the production database may not exist
    # on a fresh machine, and MLflow is checked first).
    with database(f"gl_outage_{uuid.uuid4().hex[:12]}") as registry:
        healthy = {
            "GAMELINE_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "GAMELINE_FEAST_REGISTRY_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{registry}",
        }
        started = time.monotonic()
        done = subprocess.run(
            [str(BIN / "gameline"), *command, "--config", str(path)],
            env=quiet_env(**{**healthy, variable: value}), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    if command[0] == "status" and variable != "GAMELINE_MLFLOW_TRACKING_URI":
        assert done.returncode == 0  # status needs MLflow only
        return
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert named in lines[0] and "is unreachable" in lines[0]
    assert "pw-x" not in done.stdout + done.stderr
    assert took < 10, f"{took:.1f} s"
    assert not state_paths(config).raw_games.exists()  # no work was done


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_fails_before_its_work_when_a_store_is_down(
    sim_config: Callable[..., GamelineConfig],
) -> None:
    """A deployment's run (no CLI in front): the flow's first step names the store; the fold
    work never starts and nothing is retried."""
    from gameline.flows.train import train_flow

    need_services()
    config = sim_config(train={"min_train_seasons": 1})
    ingested(config)
    down = config.model_copy(
        update={
            "mlflow": config.mlflow.model_copy(
                update={"tracking_uri": f"http://127.0.0.1:{CLOSED}"}
            )
        }
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="MLflow tracking server"):
        train_flow(down)
    assert time.monotonic() - started < 10
    assert not state_paths(config).training.exists()  # no training set was built
