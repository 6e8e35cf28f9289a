"""Reachability of the servers a config names, within seconds: PostgreSQL (the Feast registry,
MLflow's store), an HTTP server (an MLflow tracking server, the Prefect API), Redis (Feast's
online store). The adapters call these before building their clients, so a backend that is
down fails in about two seconds with one line naming it and its address (never a password),
instead of after minutes of a client library's own retries; `gameline doctor` reports them."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tomllib
import urllib.request
from pathlib import Path

from gameline.tasks.config import FeastConfig, GamelineConfig, redis_target, state_paths

TIMEOUT_S = 2.0


class BackendUnavailable(RuntimeError):
    """A configured server did not answer: which one, where, and why."""


class StoreDamaged(BackendUnavailable):
    """A primary store (one that cannot be rebuilt) cannot be read: which file, and what to
    do. Never healed: its contents would be lost."""


def redact(url: str) -> str:
    """A URL or connection string without its password."""
    url = re.sub(r"(://[^:/@]*):[^@/]+@", r"\1:***@", url)
    return re.sub(r"(password=)[^,;&\s]+", r"\1***", url)


def libpq_url(url: str) -> str:
    """A SQLAlchemy-style PostgreSQL URL (`postgresql+psycopg://`) as libpq takes it."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(what: str, where: str, exc: BaseException) -> BackendUnavailable:
    reason = redact(_first_line(exc))
    missing = re.search(r'database "([^"]+)" does not exist', str(exc))
    if missing:
        reason += f" (create it first, e.g. `createdb {missing.group(1)}`)"
    return BackendUnavailable(f"{what} at {redact(where)} is unreachable: {reason}")


def postgres_query(url: str, query: str, what: str = "PostgreSQL") -> str | None:
    """One query's first value, within the timeout; BackendUnavailable if the server or the
    database is not there."""
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=int(TIMEOUT_S), autocommit=True) as db:
            row = db.execute(query).fetchone()
    except psycopg.OperationalError as exc:
        raise unavailable(what, url, exc) from exc
    return None if row is None or row[0] is None else str(row[0])


def http_get(url: str, what: str, limit: int = 200) -> str:
    """The first `limit` bytes of a GET, within the timeout; BackendUnavailable otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            return answer.read(limit).decode(errors="replace").strip()
    except OSError as exc:
        raise unavailable(what, url, exc) from exc


def redis_ping(connection: str, match: str | None = None, what: str = "Redis") -> int:
    """PING a Redis (either address form); the number of keys matching `match` (0 without)."""
    import redis

    host, port, password, db = redis_target(connection)
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=host, port=port, password=password, db=db, socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S, retry=Retry(NoBackoff(), 0),  # one try: a probe
    )  # fmt: skip
    try:
        client.ping()
        return sum(1 for _ in client.scan_iter(match=match, count=1000)) if match else 0
    except redis.exceptions.RedisError as exc:
        raise unavailable(what, connection, exc) from exc
    finally:
        client.close()


def probe_tracking_store(uri: str) -> None:
    """An MLflow tracking store that is a server answers, or BackendUnavailable; a SQLite one
    can be read and has this client's schema, or StoreDamaged."""
    if uri.startswith("postgresql"):
        postgres_query(uri, "select 1", "MLflow's tracking store")
    elif uri.startswith(("http://", "https://")):
        http_get(uri.rstrip("/") + "/health", "the MLflow tracking server")
    elif uri.startswith("sqlite:///"):
        probe_sqlite_tracking(Path(uri.removeprefix("sqlite:///")))


@functools.cache
def mlflow_schema_head() -> str | None:
    """The schema revision this MLflow client writes: the head of its alembic migrations, read
    from the migration files' text (importing them, as alembic does, costs 2 s)."""
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    if spec is None or spec.origin is None:
        return None
    versions = Path(spec.origin).parent / "store" / "db_migrations" / "versions"
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        text = script.read_text()
        if found := re.search(r'^revision\s*=\s*"([0-9a-f]+)"', text, re.M):
            revisions.add(found[1])
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
        parents.update(re.findall(r'"([0-9a-f]+)"', down[1]) if down else [])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def probe_sqlite_tracking(path: Path) -> None:
    """The embedded MLflow database can be read and its schema is this client's, else one
    StoreDamaged naming the file and what to do (MLflow's own errors are SQLAlchemy
    tracebacks, after seconds of work)."""
    import sqlite3

    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            check = db.execute("PRAGMA quick_check").fetchone()
            version = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreDamaged(
            f"MLflow's database {path} cannot be read ({exc}): restore it from a backup, or "
            "move it aside to start an empty registry (every run and model version in it is lost)"
        ) from exc
    if not check or check[0] != "ok":
        raise StoreDamaged(
            f"MLflow's database {path} is damaged (integrity check: {check}): restore it from a "
            "backup, or move it aside to start an empty registry (its runs and models are lost)"
        )
    head = mlflow_schema_head()
    if version and head and version[0] != head:
        raise StoreDamaged(
            f"MLflow's database {path} has schema revision {version[0]}, this MLflow client "
            f"writes {head}: run `mlflow db upgrade sqlite:///{path}` (after a backup) if the "
            "database is older, or install the MLflow version that wrote it if it is newer"
        )


def probe_feast(feast: FeastConfig, online: bool = True) -> None:
    """Feast's production stores answer: its SQL registry and (with `online`) its Redis online
    store."""
    if feast.registry == "sql" and feast.registry_url:
        postgres_query(feast.registry_url, "select 1", "Feast's SQL registry")
    if online and feast.online_store == "redis":
        redis_ping(feast.redis_connection, what="Feast's online store (Redis)")


# The flows that must write the online store; the others run with it down (predictions then
# come from the offline store).
ONLINE_STORE_FLOWS = frozenset({"ingest", "features"})


def preflight(config: GamelineConfig, flow: str) -> None:
    """Every server a config names answers (about 10-50 ms when they do) before the flow named
    `flow` does any work: BackendUnavailable for the first that does not. The online store only
    for a flow that writes it."""
    probe_mlflow(config)
    probe_records(config)
    probe_feast(config.feast, online=flow in ONLINE_STORE_FLOWS)


RECORD_STORE = "the record store (PostgreSQL)"


def probe_records(config: GamelineConfig) -> None:
    """The shared record store answers, when the config names one."""
    if config.records.url:
        postgres_query(config.records.url, "select 1", RECORD_STORE)


def probe_mlflow(config: GamelineConfig) -> None:
    """The config's MLflow tracking store answers and has this client's schema (the embedded
    one: a file in the state folder), else BackendUnavailable or StoreDamaged."""
    probe_tracking_store(config.mlflow.tracking_uri or "")
    if not config.mlflow.tracking_uri:
        probe_sqlite_tracking(state_paths(config).mlflow / "mlflow.db")


def prefect_api_url() -> str | None:
    """PREFECT_API_URL from the environment, else from the active Prefect profile."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    if not profiles.exists():
        return None
    data = tomllib.loads(profiles.read_text())
    active = os.environ.get("PREFECT_PROFILE") or data.get("active", "ephemeral")
    url = data.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(url) if url else None
