"""A backend that is down fails in seconds with one line naming it and its address (never a
password), exit code 1, before any work and with nothing written; not after minutes of a client
library's retries (MLflow's took 100-120 s, Feast's and Redis's 30-45 s with our own retries)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.backends import BackendUnavailable
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.records import records_for
from tests.builders import NOW, fatigue_league, ingested, with_changes, write_config
from tests.servers import (
    Receiver,
    database,
    free_port,
    gameline,
    need_services,
    postgres_url,
    quiet_env,
)

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
    "record store (PostgreSQL)": (
        "GAMELINE_RECORDS_URL",
        f"postgresql+psycopg://postgres:pw-x@127.0.0.1:{CLOSED}/gameline",
        "the record store (PostgreSQL) at postgresql+psycopg://postgres:***@127.0.0.1:",
    ),
    "prefect api": (
        "PREFECT_API_URL",
        f"http://127.0.0.1:{CLOSED}/api",
        f"the Prefect API at http://127.0.0.1:{CLOSED}/api/health",
    ),
    "missing database": (
        "GAMELINE_MLFLOW_TRACKING_URI",
        postgres_url("gl_no_such_database"),
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
    if variable == "GAMELINE_REDIS_CONNECTION" and command[0] != "status":
        # Only the runs that write the online store need it (the others fall back to the
        # offline store: the test below).
        command = {"run": ["ingest"], "train": ["features"]}[command[0]]
    config = sim_config("production")
    path = write_config(config, tmp_path / "production.yaml")
    # Every other backend up: MLflow in a SQLite file (the production database may not exist
    # on a fresh machine, and MLflow is checked first).
    with database(f"gl_outage_{uuid.uuid4().hex[:12]}") as registry:
        healthy = {
            "GAMELINE_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "GAMELINE_FEAST_REGISTRY_URL": postgres_url(registry),
            "GAMELINE_RECORDS_URL": postgres_url(registry),
        }
        started = time.monotonic()
        done = gameline(
            *command,
            "--config",
            str(path),
            env=quiet_env(**{**healthy, variable: value}),
            timeout=120,
        )
        took = time.monotonic() - started
    needed_by_status = ("GAMELINE_MLFLOW_TRACKING_URI", "GAMELINE_RECORDS_URL")
    if command[0] == "status" and variable not in needed_by_status:  # no Prefect
        assert done.returncode == 0  # status needs MLflow and the records only
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


@pytest.mark.usefixtures("prefect_harness")
def test_with_the_online_store_down_predictions_come_from_the_offline_store(
    sim_config: Callable[..., GamelineConfig], receiver: Receiver
) -> None:
    """Redis down: the daily run goes on (the online store is not loaded, it says so), and
    predict serves the same probabilities from the offline store, says so in its summary and
    artifact, and alerts; the online store catches up once Redis is back."""
    need_services()
    from gameline.flows.pipeline import pipeline_flow
    from gameline.flows.predict import predict_flow
    from gameline.tasks.serving.predictions import read_predictions

    project = f"gl_degrade_{uuid.uuid4().hex[:10]}"
    feast = {"online_store": "redis", "redis_connection": "127.0.0.1:6379", "project": project}
    up = fatigue_league(sim_config, ingest=False, feast=feast)  # a champion on its first train
    down = with_changes(up, feast={"redis_connection": f"127.0.0.1:{free_port()}"})
    try:
        first = asyncio.run(pipeline_flow(up, now=NOW))
        assert first.predictions is not None and first.predictions.degraded is None
        started = time.monotonic()
        degraded = predict_flow(down, now=NOW)
        assert time.monotonic() - started < 30
        assert degraded.degraded and degraded.degraded.startswith(
            "features from the offline store: the online store is down (Feast's online store "
            f"(Redis) at 127.0.0.1:{down.feast.redis_connection.split(':')[1]}"
        ), degraded.degraded
        assert "alert sent" in degraded.degraded
        assert any("online store down" in str(b["title"]) for b in receiver.bodies)
        table = read_predictions(records_for(up))
        online, offline = (
            table[table["feature_source"] == source].set_index("game_id")
            for source in ("online", "offline")
        )
        assert len(offline) == len(online) == first.predictions.games
        pd.testing.assert_series_equal(offline["p_home"], online["p_home"])
        daily = asyncio.run(
            pipeline_flow(down, now=NOW)
        )  # the whole daily run goes on without Redis
        assert daily.ingest.feast is not None and daily.ingest.feast.materialize is None
        assert "not loaded this run" in str(daily.ingest.feast.note)
        assert daily.predictions is not None and daily.predictions.degraded
    finally:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(match=f"*{project}*".encode()):
            client.delete(key)


@contextmanager
def mounted(*args: str) -> Iterator[None]:
    """`mount args...` for the block (the test is skipped where the machine does not allow it),
    unmounted after."""
    target = args[-1]
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root in a privileged box")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", target], capture_output=True)


def leftovers(root: Path) -> list[Path]:
    """Half-written files: temp files of atomic writes."""
    return [p for p in root.rglob("*.tmp") if p.is_file()]


@pytest.mark.slow
def test_a_full_state_folder_fails_with_one_line_and_nothing_half_written(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path, harness_api: dict[str, str]
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=96k", "tmpfs", str(small)):
        config = sim_config(state_dir=str(small / "state"))
        path = write_config(config, tmp_path / "c.yaml")
        done = gameline("ingest", "--config", str(path), env=quiet_env(**harness_api))
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 1 and len(errors) == 1, done.stderr[-2000:]
        assert "disk is full" in errors[0] or "No space left on device" in errors[0], errors
        assert "Traceback" not in done.stderr
        assert not leftovers(small)  # every write was temp-then-rename
        if state_paths(config).raw_games.exists():  # written whole, or not at all
            assert len(pd.read_parquet(state_paths(config).raw_games)) > 0


def test_a_read_only_state_folder_fails_with_one_line_naming_what_it_could_not_write(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path, harness_api: dict[str, str]
) -> None:
    source, view = tmp_path / "state", tmp_path / "read-only"
    config = sim_config(state_dir=str(source))
    ingested(config)
    view.mkdir()
    with mounted("--bind", str(source), str(view)), mounted("-o", "remount,ro,bind", str(view)):
        readonly = write_config(config.model_copy(update={"state_dir": view}), tmp_path / "ro.yaml")
        for command in ("ingest", "train"):
            started = time.monotonic()
            done = gameline(command, "--config", str(readonly), env=quiet_env(**harness_api))
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            assert done.returncode == 1 and len(errors) == 1, done.stderr[-2000:]
            assert "Read-only file system" in errors[0] or "readonly database" in errors[0]
            assert time.monotonic() - started < 60
        status = gameline("status", "--config", str(readonly), timeout=120)
        # Never trained, so MLflow's store would have to be created: one line naming it.
        assert status.returncode == 1, status.stdout
        assert status.stderr == (
            f"error: {view / 'mlflow'}: Read-only file system: free space, or make the state "
            "folder writable, and run again\n"
        )


def test_a_replay_with_mlflow_down_fails_before_replaying(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """`gameline replay` logs to MLflow at its end: an unreachable tracking store is found
    before minutes of replaying, in one line (it used to be a traceback after the work)."""
    config = sim_config()
    path = write_config(config, tmp_path / "c.yaml")
    url = f"http://127.0.0.1:{CLOSED}"
    started = time.monotonic()
    done = gameline(
        "replay", "--config", str(path), "--from", "2025-11-10", "--to", "2025-12-31",
        env=quiet_env(GAMELINE_MLFLOW_TRACKING_URI=url),
    )  # fmt: skip
    assert done.returncode == 1 and time.monotonic() - started < 10
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: the MLflow tracking server at {url}/health is unreachable")
    assert not (state_paths(config).root / "replays").exists()
