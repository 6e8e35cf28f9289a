"""No secret is ever persisted or printed. A secret is planted in every secret-carrying setting
(the Feast registry's and MLflow's PostgreSQL passwords, the Redis password of a Redis started
with `requirepass`, the alert URL), the daily loop runs on the production configuration from the
CLI, and everything it wrote is scanned: stdout, stderr, the Prefect database (flow run
parameters, logs, artifacts), the MLflow and Feast databases (params, tags, registry) and every
file in the state folder."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from tests.builders import fatigue_league, write_config
from tests.servers import (
    database,
    free_port,
    gameline,
    need_services,
    postgres_url,
    prefect_home,
    process,
    quiet_env,
    running_prefect_server,
)

pytestmark = [pytest.mark.services, pytest.mark.integration, pytest.mark.slow]

SECRET = f"s3cret-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """A Redis of the test's own that refuses clients without the planted password."""
    need_services()
    port = free_port()
    command = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", SECRET,
        "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
    ]  # fmt: skip
    with process(command, quiet_env(), tmp_path / "redis.log"):
        import time

        import redis

        for _ in range(50):
            try:
                redis.Redis(port=port, password=SECRET).ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        yield port


def scan(root: Path) -> list[str]:
    """Files under `root` whose bytes contain the secret."""
    return [str(p) for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def dump(name: str) -> str:
    """A PostgreSQL database as SQL text (every table's rows)."""
    done = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", name],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


@pytest.mark.slow(seconds=45)  # about this long: scheduled first
def test_no_secret_is_printed_or_stored(
    sim_config: Callable[..., GamelineConfig],
    redis_with_password: int,
    tmp_path: Path,
    prefect_db: Path,
    mlflow_postgres_db: str,
) -> None:
    project = f"gl_test_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        registry_db = stack.enter_context(database(project))
        mlflow_db = stack.enter_context(database(f"{project}_mlflow", template=mlflow_postgres_db))
        # The YAML holds addresses without passwords, as production.yaml does.
        # A league whose first challenger passes the gate, so the one run trains, promotes and
        # predicts: every stage touches the secret-carrying stores.
        config = fatigue_league(
            sim_config,
            ingest=False,
            name="production",
            feast={
                "project": project,
                "registry_url": postgres_url(registry_db),
                "redis_connection": f"127.0.0.1:{redis_with_password}",
            },
            mlflow={"tracking_uri": postgres_url(mlflow_db)},
            records={"url": postgres_url(registry_db)},
        )
        config_file = write_config(config, tmp_path / "production.yaml")
        home = prefect_home(tmp_path / "prefect-home", prefect_db)
        # PostgreSQL trusts local clients, so the planted passwords are accepted and ignored;
        # Redis checks its own.
        env = quiet_env(
            PREFECT_HOME=str(home),
            GAMELINE_FEAST_REGISTRY_URL=(
                f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/{registry_db}"
            ),
            GAMELINE_MLFLOW_TRACKING_URI=(
                f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/{mlflow_db}"
            ),
            GAMELINE_RECORDS_URL=(
                f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/{registry_db}"
            ),
            GAMELINE_REDIS_CONNECTION=f"redis://:{SECRET}@127.0.0.1:{redis_with_password}/0",
            GAMELINE_ALERT_URL=f"json://127.0.0.1:9/{SECRET}",
        )
        # One Prefect server for the three commands, started as the CLI starts its temporary
        # one (same environment, secrets included; its database in PREFECT_HOME), so that its
        # database can be searched too.
        url = stack.enter_context(running_prefect_server(env, tmp_path / "prefect-server.log"))
        commands_env = {**env, "PREFECT_API_URL": url}
        outputs = []
        for command in (["run"], ["status"], ["doctor"]):
            done = gameline(*command, "--config", str(config_file), env=commands_env, timeout=400)
            assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            outputs.append(done.stdout + done.stderr)
        assert "PONG" in outputs[-1]  # doctor reached the password-protected Redis

        leaks = [i for i, text in enumerate(outputs) if SECRET in text]
        assert not leaks, f"printed by command {leaks}"
        assert (home / "prefect.db").exists()  # the server's database
        assert not scan(home), "in Prefect's database or home"
        assert not scan(state_paths(config).root), "in the state folder"
        for name in (registry_db, mlflow_db):
            assert SECRET not in dump(name), f"in the database {name}"
        # The run did use those stores, through to the predictions.
        assert "promoted" in outputs[0] and "upcoming games" in outputs[0], outputs[0][-3000:]
        assert "gameline-production" in dump(mlflow_db)
