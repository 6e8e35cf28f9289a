"""Real servers for tests: this machine's PostgreSQL and Redis, and processes a test starts (a
Prefect server, a worker, `gameline serve`), each stopped by its own process group."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from gameline.flows.quiet import QUIET_ENV

BIN = Path(sys.executable).parent


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def need_services() -> None:
    """Skip, with the reason shown, without this machine's PostgreSQL and Redis."""
    if not (reachable(5432) and reachable(6379)):
        pytest.skip("PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are needed")


ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_url(name: str, driver: str = "psycopg") -> str:
    """A SQLAlchemy URL of database `name` on this machine's PostgreSQL."""
    return f"postgresql+{driver}://postgres@127.0.0.1:5432/{name}"


def admin(sql: str) -> None:
    """Run one statement as the PostgreSQL superuser (create / drop a test database)."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        db.execute(sql)


@contextmanager
def database(name: str, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database for one test (a copy of `template` if given), dropped after it;
    yields its name."""
    admin(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    try:
        yield name
    finally:
        admin(f'drop database "{name}" with (force)')


# The test run's id (set by the controlling pytest process, inherited by its xdist workers):
# the suffix of the PostgreSQL databases built once for the run and dropped at its end.
RUN_VAR = "GL_TEST_RUN"
TEMPLATE_PREFIX = "gl_tpl_"


def migrated_database(kind: str, migrate: Callable[[str], None]) -> str:
    """A PostgreSQL database that `migrate(its name)` brought to a library's current schema,
    built once per test run for all its workers (under an advisory lock; the others wait, then
    use it); its name, a template for `database`. A copy takes a fraction of a second where a
    store's migrations on an empty database take seconds (MLflow's about 4 s of CPU, Prefect's
    more)."""
    import psycopg

    name = f"{TEMPLATE_PREFIX}{kind}_{os.environ[RUN_VAR]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        db.execute("select pg_advisory_lock(hashtext(%s))", (name,))
        if db.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            scratch = f"{name}_building"
            db.execute(f'drop database if exists "{scratch}" with (force)')
            db.execute(f'create database "{scratch}"')
            migrate(scratch)
            db.execute(f'alter database "{scratch}" rename to "{name}"')
    return name  # the lock ends with the connection


def drop_migrated_databases(run: str) -> None:
    """Drop the databases `migrated_database` built for the test run `run`."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        names = db.execute(
            "select datname from pg_database where starts_with(datname, %s)", (TEMPLATE_PREFIX,)
        ).fetchall()
        for (name,) in names:
            if name.endswith((f"_{run}", f"_{run}_building")):
                db.execute(f'drop database "{name}" with (force)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(
    command: Sequence[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A background process in its own session, its output in `log`; killed with its whole
    process group (SIGKILL: a Prefect worker started from a script ignores SIGTERM)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(command), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    """Wait until `url` answers 200 (fail with the process's log if it dies first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_prefect_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`prefect server start` on a free port with `env` (UI off), killed on exit; its API URL
    once it answers."""
    port = free_port()
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process(command, {**env, "PREFECT_UI_ENABLED": "false"}, log) as server:
        url = f"http://127.0.0.1:{port}/api"
        wait_http(f"{url}/health", server, log)
        yield url


def built_once(path: Path, build: Callable[[Path], None]) -> Path:
    """`path`, made by `build(a scratch path)` and renamed into place once for the test run's
    workers (under a lock beside it; the other workers wait, then use it)."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            scratch = path.with_name(f"{path.stem}-building")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.unlink(missing_ok=True)
            build(scratch)
            scratch.rename(path)
    return path


def upgrade_prefect(**env: str) -> None:
    """`prefect server database upgrade` of the database `env` names (its PREFECT_HOME's
    SQLite file, or PREFECT_API_DATABASE_CONNECTION_URL)."""
    subprocess.run(
        [str(BIN / "prefect"), "server", "database", "upgrade", "-y"],
        env=quiet_env(**env), check=True, capture_output=True,
    )  # fmt: skip


def upgrade_mlflow(url: str) -> None:
    """`mlflow db upgrade` of the tracking store at `url`, as an administrator prepares one."""
    subprocess.run(
        [str(BIN / "mlflow"), "db", "upgrade", url], env=quiet_env(), check=True,
        capture_output=True,
    )  # fmt: skip


def migrated_prefect_db(folder: Path) -> Path:
    """A Prefect SQLite database migrated to this Prefect's latest schema, built once in
    `folder` for the test run's workers: a server started on an empty database spends about
    13 s of its start on the migrations, one started on a copy of this about 5 s in all."""

    def build(scratch: Path) -> None:
        home = scratch.with_name(f"{scratch.name}-home")
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        upgrade_prefect(PREFECT_HOME=str(home))
        (home / "prefect.db").rename(scratch)

    return built_once(folder / "prefect-migrated.db", build)


def migrated_mlflow_db(folder: Path) -> Path:
    """An empty MLflow SQLite database at this MLflow's latest schema (`mlflow db upgrade`, as
    an administrator prepares one), built once in `folder` for the test run's workers: MLflow
    migrates a new database on its first use, about 1.5 s each time, and the integration tests
    make about thirty."""

    def build(scratch: Path) -> None:
        upgrade_mlflow(f"sqlite:///{scratch}")

    return built_once(folder / "mlflow-migrated.db", build)


def mlflow_postgres() -> str:
    """An empty MLflow store on PostgreSQL at the current schema (`mlflow db upgrade`), built
    once per test run: a template for the tests' MLflow databases."""

    return migrated_database("mlflow", lambda name: upgrade_mlflow(postgres_url(name)))


def prefect_postgres() -> str:
    """An empty Prefect server database on PostgreSQL at the current schema, built once per
    test run: a template for the tests' Prefect servers on PostgreSQL."""

    def migrate(name: str) -> None:
        with tempfile.TemporaryDirectory() as home:
            url = postgres_url(name, "asyncpg")
            upgrade_prefect(PREFECT_HOME=home, PREFECT_API_DATABASE_CONNECTION_URL=url)

    return migrated_database("prefect", migrate)


def prefect_home(home: Path, migrated: Path) -> Path:
    """`home` as a PREFECT_HOME holding a copy of the migrated database (`migrated_prefect_db`),
    as a machine that has run Prefect before has."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, home / "prefect.db")
    return home


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no telemetry look-ups, no inherited Prefect API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GAMELINE_"))}
    env.update(QUIET_ENV, PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    env.update(extra)
    return env


# A line no failing command may print without --verbose: a traceback, or a library's warning
# ("...py:440: UserWarning: ...", "FutureWarning: ...").
NOISE = re.compile(r"^Traceback \(most recent call last\)|\b[A-Z][A-Za-z]*Warning: ")


def noise(stderr: str) -> list[str]:
    """The lines of a command's stderr that a user should never see on an expected failure."""
    return [line for line in stderr.splitlines() if NOISE.search(line)]


def gameline(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user types it. Every failure the suite provokes is checked here: without
    --verbose it is told in `error:` lines, never with a traceback or a library's warning."""
    done = subprocess.run(
        [str(BIN / "gameline"), *args], env=quiet_env() if env is None else env, cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0 and not {"-v", "--verbose"} & set(args):
        assert not noise(done.stderr), f"gameline {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done


class Receiver:
    """A local HTTP server standing in for the alert webhook; keeps every POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Prefect:
    """A Prefect server for one test module: its API URL, and the CLI and API against it."""

    def __init__(self, url: str, env: dict[str, str], logs: Path) -> None:
        self.url, self.env, self.logs = url, env, logs

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> str:
        """Run `prefect ...`; fail the test with its output if it fails."""
        done = subprocess.run(
            [str(BIN / "prefect"), *args], env=self.env, cwd=cwd, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST to the REST API (filters) and return the JSON answer."""
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def flow_runs(self) -> list[dict[str, Any]]:
        return list(self.api("/flow_runs/filter", {"limit": 200}))
