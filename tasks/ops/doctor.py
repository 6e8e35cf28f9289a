"""`gameline doctor`: is every backend a config names there and usable? One line per backend,
each probe bounded by a short timeout, no heavy client imported (the whole check answers in
about a second), no password printed.

These are reachability probes, not clients: SQLite files are opened read-only, PostgreSQL is
asked for its migration version, Redis for a PING, HTTP servers for their health endpoint. The
pipeline's own adapters (MLflow, Feast, Prefect) are what the runs use."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from gameline.tasks.backends import (
    TIMEOUT_S,
    BackendUnavailable,
    http_get,
    postgres_query,
    prefect_api_url,
    redact,
    redis_ping,
)
from gameline.tasks.config import GamelineConfig, redis_target, state_paths

Status = Literal["ok", "warn", "fail"]


class Check(BaseModel):
    """One backend: what it is, where, and whether it answered."""

    name: str
    status: Status
    detail: str


def _pg_schema(url: str) -> str:
    """MLflow's migration version in a PostgreSQL database (an empty database is fine: the
    first run creates the tables)."""
    if postgres_query(url, "select to_regclass('public.alembic_version')") is None:
        return "none yet (an empty database: the first run creates MLflow's tables)"
    return postgres_query(url, "select version_num from alembic_version") or "unknown"


def _sqlite(path: Path, query: str) -> str | None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_S) as db:
        row = db.execute(query).fetchone()
    return None if row is None else str(row[0])


def check_state(config: GamelineConfig) -> Check:
    root = state_paths(config).root.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(name="state folder", status="fail", detail=f"{root}: not writable ({exc})")
    return Check(name="state folder", status="ok", detail=f"{root} (writable)")


def check_mlflow(config: GamelineConfig) -> Check:
    """The tracking store: its schema version (SQLite, PostgreSQL) or server version (HTTP)."""
    client = importlib.metadata.version("mlflow")
    uri = config.mlflow.tracking_uri
    schema = "select version_num from alembic_version"
    if not uri:
        path = state_paths(config).mlflow.resolve() / "mlflow.db"
        if not path.exists():
            return Check(
                name="mlflow",
                status="ok",
                detail=f"sqlite {path}: not created yet (the first training run creates it); "
                f"client {client}",
            )
        return Check(
            name="mlflow",
            status="ok",
            detail=f"sqlite {path}: schema {_sqlite(path, schema)}; client {client}",
        )
    where = redact(uri)
    if uri.startswith("postgresql"):
        return Check(
            name="mlflow",
            status="ok",
            detail=f"{where}: reachable, schema {_pg_schema(uri)}; client {client}",
        )
    if uri.startswith(("http://", "https://")):
        version = http_get(uri.rstrip("/") + "/version", "the MLflow tracking server")
        return Check(
            name="mlflow", status="ok", detail=f"{where}: server {version}; client {client}"
        )
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return Check(name="mlflow", status="ok", detail=f"{where}: schema {_sqlite(path, schema)}")
    return Check(name="mlflow", status="warn", detail=f"{where}: no probe for this kind of store")


def check_prefect() -> Check:
    url = prefect_api_url()
    if not url:
        return Check(
            name="prefect",
            status="warn",
            detail="no PREFECT_API_URL: each command starts a temporary server (fine for the "
            "demo; schedules, deployments and the UI need `prefect server start`)",
        )
    answer = http_get(url.rstrip("/") + "/health", "the Prefect API")
    return Check(name="prefect", status="ok", detail=f"{redact(url)}: healthy ({answer})")


def check_feast_registry(config: GamelineConfig) -> Check:
    feast = config.feast
    if feast.registry == "sql" and feast.registry_url:
        tables = postgres_query(
            feast.registry_url,
            "select count(*) from information_schema.tables where table_name = 'feature_views'",
        )
        state = "definitions applied" if tables == "1" else "empty (the first run applies them)"
        return Check(
            name="feast registry",
            status="ok",
            detail=f"sql {redact(feast.registry_url)}: reachable, {state}",
        )
    return local_file("feast registry", "file", state_paths(config).feast / "registry.db")


def check_records(config: GamelineConfig) -> Check:
    """Where the alert, retrain and audit logs, decisions and predictions live."""
    url = config.records.url
    if url:
        tables = postgres_query(
            url, "select count(*) from information_schema.tables where table_name like 'gameline_%'"
        )
        state = "tables present" if tables == "3" else "empty (the first run creates the tables)"
        return Check(name="records", status="ok", detail=f"{redact(url)}: reachable, {state}")
    return Check(
        name="records", status="ok", detail=f"files in {config.state_dir.resolve()} (one machine)"
    )


def local_file(name: str, kind: str, path: Path) -> Check:
    """An embedded store: a file in the state folder, or none yet (the first run writes it)."""
    path = path.resolve()
    state = "present" if path.exists() else "not created yet (the first run writes it)"
    return Check(name=name, status="ok", detail=f"{kind} {path}: {state}")


def check_online_store(config: GamelineConfig) -> Check:
    feast = config.feast
    if feast.online_store == "redis":
        host, port, _, db = redis_target(feast.redis_connection)
        keys = redis_ping(feast.redis_connection, f"*{feast.project}*")
        return Check(
            name="online store",
            status="ok",
            detail=f"redis {host}:{port}/{db}: PONG, {keys} keys of project {feast.project}",
        )
    return local_file("online store", "sqlite", state_paths(config).feast / "online_store.db")


def check_alerts(config: GamelineConfig) -> Check:
    alerts = config.alerts
    if alerts.url_from_environment():
        return Check(name="alerts", status="ok", detail=f"target from ${alerts.url_env} (set)")
    if alerts.secret_block:
        return Check(
            name="alerts",
            status="ok",
            detail=f"target from the Prefect Secret block {alerts.secret_block!r} (read at run "
            "time)",
        )
    return Check(
        name="alerts",
        status="warn",
        detail=f"no target: set ${alerts.url_env} (an apprise URL: slack://, mailto://, "
        "json://) or alerts.secret_block; until then alerts go to the alert log only",
    )


def check_api(config: GamelineConfig) -> Check:
    """The HTTP API at `api.url`: up and serving a champion (its /ready)."""
    url = config.api.url
    if not url:
        return Check(
            name="api",
            status="warn",
            detail="no api.url: `gameline api` (or `gameline serve --api`) serves it; set "
            "api.url to have it checked",
        )
    try:
        answer = json.loads(http_get(url.rstrip("/") + "/ready", "the Gameline API", 2000))
    except BackendUnavailable as exc:
        if "HTTP Error 503" not in str(exc):
            raise
        return Check(
            name="api", status="warn", detail=f"{url}: up, no champion served yet (see /ready)"
        )
    return Check(
        name="api",
        status="ok",
        detail=f"{url}: serving champion v{answer['champion_version']}",
    )


def _probe(name: str, where: str, check: Callable[[], Check]) -> Check:
    """Run one probe; an error becomes a failed line naming the backend and address."""
    try:
        return check()
    except BackendUnavailable as exc:  # already names the backend and address
        return Check(name=name, status="fail", detail=str(exc))
    except Exception as exc:  # any other error of a probe is that backend's failure too
        text = str(exc).strip()
        reason = redact(text.splitlines()[0] if text else type(exc).__name__)
        return Check(name=name, status="fail", detail=f"{redact(where)}: {reason}")


def doctor(config: GamelineConfig) -> list[Check]:
    """Every backend of a config, one check each."""
    feast = config.feast
    mlflow_where = config.mlflow.tracking_uri or str(state_paths(config).mlflow / "mlflow.db")
    return [
        _probe("state folder", str(config.state_dir), lambda: check_state(config)),
        _probe("mlflow", mlflow_where, lambda: check_mlflow(config)),
        _probe("prefect", prefect_api_url() or "", check_prefect),
        _probe("records", config.records.url or "files", lambda: check_records(config)),
        _probe(
            "feast registry", feast.registry_url or "file", lambda: check_feast_registry(config)
        ),
        _probe(
            "online store",
            feast.redis_connection if feast.online_store == "redis" else "sqlite",
            lambda: check_online_store(config),
        ),
        _probe("alerts", config.alerts.url_env, lambda: check_alerts(config)),
        _probe("api", config.api.url or "", lambda: check_api(config)),
    ]
