"""Fixtures: small simulated configs in tmp folders, the real-data folder, the session's Prefect
API, a local alert receiver. Builders that tests import live in tests/builders.py."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from gameline.flows import quiet
from gameline.tasks.config import GamelineConfig, load_config, state_paths
from tests.builders import CONFIGS, real_data_dir, small_sim_config
from tests.servers import (
    RUN_VAR,
    Prefect,
    Receiver,
    database,
    drop_migrated_databases,
    migrated_mlflow_db,
    migrated_prefect_db,
    mlflow_postgres,
    need_services,
    postgres_url,
    prefect_postgres,
    quiet_env,
    reachable,
    running_prefect_server,
)

quiet.no_telemetry()


def pytest_configure(config: pytest.Config) -> None:
    """The test run's id, made by the controlling process; xdist's workers inherit it."""
    if not hasattr(config, "workerinput"):
        os.environ.setdefault(RUN_VAR, uuid.uuid4().hex[:10])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controlling process drops the PostgreSQL databases built once for the run."""
    if not hasattr(session.config, "workerinput") and reachable(5432):
        drop_migrated_databases(os.environ[RUN_VAR])


@pytest.fixture
def data_dir() -> Path:
    """The real-data folder; the test is skipped, with the reason shown, where it is absent."""
    folder = real_data_dir()
    if not (folder / "nba_games_2008_2025.csv").exists():
        pytest.skip(f"real game files not found in {folder} (set GAMELINE_DATA_DIR)")
    return folder


@pytest.fixture
def sim_config(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., GamelineConfig]:
    """`small_sim_config` under tmp_path. In an integration test its state folder starts with
    an empty MLflow store at the current schema (`mlflow_db`), as a folder that has been used
    once has, unless the test names its own state folder or tracking store."""

    def make(name: str = "default", **overrides: Any) -> GamelineConfig:
        own_state = "state_dir" in overrides
        state = Path(overrides.pop("state_dir", tmp_path / "state"))
        config = small_sim_config(state, name, **overrides)
        if request.node.get_closest_marker("integration") and not (
            own_state or config.mlflow.tracking_uri
        ):
            store = state_paths(config).mlflow / "mlflow.db"
            if not store.exists():
                store.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(request.getfixturevalue("mlflow_db"), store)
        return config

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


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test run's temporary folder, shared by its xdist workers (each has its own below)."""
    run = tmp_path_factory.getbasetemp()
    return run.parent if os.environ.get("PYTEST_XDIST_WORKER") else run


@pytest.fixture(scope="session")
def prefect_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Prefect SQLite database, built once per test run for all its workers: copied
    where a test starts a Prefect server on a fresh SQLite database (`prefect_home`)."""
    return migrated_prefect_db(run_folder(tmp_path_factory))


@pytest.fixture(scope="session")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite database, built once per test run for all its workers
    (`sim_config` copies it into an integration test's state folder)."""
    return migrated_mlflow_db(run_folder(tmp_path_factory))


@pytest.fixture(scope="session")
def mlflow_postgres_db() -> str:
    """An empty, migrated MLflow store on PostgreSQL, built once per test run: the template of
    the tests' MLflow databases on PostgreSQL (`database(name, template=...)`)."""
    need_services()
    return mlflow_postgres()


@pytest.fixture(scope="session")
def prefect_postgres_db() -> str:
    """An empty, migrated Prefect database on PostgreSQL, built once per test run: the template
    of the database of `prefect_server`."""
    need_services()
    return prefect_postgres()


@pytest.fixture(scope="session")
def prefect_harness(prefect_db: Path) -> Iterator[None]:
    """One temporary Prefect API for every flow test of the session. The flows the tests call
    run as the daily flow runs its subflows, without heartbeats of their own (`subflows()`):
    a flow run's heartbeat only feeds crash detection, and costs up to a second at its end.
    The deployment tests' runs, in worker processes, keep theirs.

    The harness's database is a copy of `prefect_db`: Prefect's harness makes its folder with
    `mkdtemp` and its database there as `prefect-test.db`, so that name is given a folder that
    holds the copy (should a new Prefect name it otherwise, it migrates an empty one: slower,
    the same)."""
    import prefect.testing.utilities as harness
    from prefect.testing.utilities import prefect_test_harness

    from gameline.flows.common import subflows

    def folder_with_database() -> str:
        folder = tempfile.mkdtemp()
        shutil.copyfile(prefect_db, Path(folder) / "prefect-test.db")
        return folder

    with ExitStack() as stack:
        with patch.object(harness, "mkdtemp", folder_with_database):  # while the harness starts
            stack.enter_context(prefect_test_harness(server_startup_timeout=60))
        stack.enter_context(subflows())
        yield


@pytest.fixture
def harness_api(prefect_harness: None) -> dict[str, str]:
    """The environment that points a `gameline` child process at the session's Prefect API, so
    it starts no temporary server of its own (for tests whose subject is not that server)."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": str(PREFECT_API_URL.value())}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A local HTTP receiver standing in for the alert webhook (GAMELINE_ALERT_URL)."""
    hook = Receiver()
    monkeypatch.setenv("GAMELINE_ALERT_URL", hook.url)
    yield hook
    hook.server.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the slow tests (whole flows, servers, kills; the longest say about how
    long, `@pytest.mark.slow(seconds=N)`), then the other integration tests, then the unit tier,
    each in file order. `make test` has xdist hand them out two at a time
    (`--maxschedchunk 2`) to whichever worker is free, so a long test neither starts last nor
    waits in a busy worker's queue while the other worker idles."""

    def cost(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        if slow is not None:
            return float(slow.kwargs.get("seconds", 10))
        return 2.0 if "integration" in item.nodeid else 0.0

    items.sort(key=cost, reverse=True)


@pytest.fixture(scope="module")
def prefect_server(
    tmp_path_factory: pytest.TempPathFactory, prefect_postgres_db: str
) -> Iterator[Prefect]:
    """`prefect server start` on a free loopback port with its database on PostgreSQL (a copy
    of `prefect_postgres_db`); stopped by its process group, its database dropped."""
    home = tmp_path_factory.mktemp("prefect")
    name = f"gl_test_prefect_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        stack.enter_context(database(name, template=prefect_postgres_db))
        server_env = quiet_env(
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=postgres_url(name, "asyncpg"),
            PREFECT_UI_ENABLED="false",
        )
        url = stack.enter_context(running_prefect_server(server_env, home / "server.log"))
        # Workers and `gameline serve` look for scheduled runs every second or two (defaults:
        # 10 s), so a run started by the test starts at once.
        env = quiet_env(
            PREFECT_HOME=str(home), PREFECT_API_URL=url, PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_RUNNER_POLL_FREQUENCY="1",
        )  # fmt: skip
        yield Prefect(url, env, home)
