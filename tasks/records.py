"""The records a league's runs decide from, or must never lose: the alert log, the retrain log,
the audit log of alias moves and of the API's requests, the gate's decisions, the registry
snapshot `status` shows, the last monitor run's result, the predictions table and the ingest
manifests. One adapter, two stores:

- `FileRecords`: files in the state folder (the embedded default; one machine).
- `SqlRecords`: PostgreSQL, when the config names a shared store (`records.url`), so that every
  worker reads the same alerts, retrains and predictions whichever machine ran the monitor or the
  predict: one namespace per config name, so leagues sharing a database never mix.

A record is named by its path in the state folder (`alerts/alerts.jsonl`); the names are stated
once, below. Three kinds: lines (logs), frames (a table that grows by appended rows) and
documents (one JSON text per name, listed by folder). Every write is whole or absent: a file is
written beside its target and renamed, a database write is one transaction.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pandas as pd

from gameline.tasks.storage import (
    DamagedFile,
    append_line,
    reading,
    store_lock,
    write_parquet,
    write_text,
)

if TYPE_CHECKING:
    import psycopg

    from gameline.tasks.config import GamelineConfig

# The records' names: their paths in the state folder.
ALERTS = "alerts/alerts.jsonl"
RETRAINS = "registry/retrains.jsonl"
AUDIT = "registry/audit.jsonl"
DECISIONS = "registry/decisions"
PREDICTIONS = "predictions/predictions.parquet"
SNAPSHOT = "registry/snapshot.json"  # the models behind the aliases, as `status` shows them
MONITOR_RESULT = "reports/monitor/latest.json"  # the last monitor run's result (the API shows it)
MANIFESTS = "manifests"
API_REQUESTS = "api_requests.jsonl"  # who asked the API for which run
PROMOTION = "registry/promotion"  # a lock's name only
LOCK_TIMEOUT_S = 600.0

T = TypeVar("T")


class RecordStore(Protocol):
    """Where a config's records live; every method names a record by its state-folder path."""

    shared: bool  # every worker reads the same records (not one machine's state folder)

    def where(self, name: str) -> str:
        """A record's location, for messages (never a password)."""
        ...

    def read_lines(self, name: str) -> list[str]: ...

    def append_line(self, name: str, line: str) -> None: ...

    def replace_lines(self, name: str, lines: list[str]) -> None: ...

    def read_frame(self, name: str) -> pd.DataFrame: ...

    def append_frame(self, name: str, frame: pd.DataFrame) -> None: ...

    def read_doc(self, name: str) -> str | None: ...

    def write_doc(self, name: str, text: str) -> None: ...

    def add_doc(self, name: str, text: str) -> bool:
        """Write a document unless one of that name exists (the first writer's is kept);
        whether it was written."""
        ...

    def doc_names(self, folder: str) -> list[str]:
        """The documents in `folder`, by name, sorted."""
        ...

    def written_at(self, name: str) -> float | None:
        """When a record was last written (epoch seconds), None if never."""
        ...

    def lock(self, name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Any:
        """A context manager holding `name`'s lock, across every process sharing the store."""
        ...


def parse_lines(store: RecordStore, name: str, parse: Callable[[str], T]) -> list[T]:
    """A log's lines, each parsed; a line that cannot be parsed is one DamagedFile naming the
    record (never a traceback, never a silently skipped line)."""
    lines = store.read_lines(name)
    with damaged(store, name):
        return [parse(line) for line in lines if line]


def parse_doc(store: RecordStore, name: str, parse: Callable[[str], T]) -> T | None:
    text = store.read_doc(name)
    if text is None:
        return None
    with damaged(store, name):
        return parse(text)


@contextmanager
def damaged(store: RecordStore, name: str) -> Iterator[None]:
    """Any failure to parse a record as one DamagedFile naming where it lives."""
    if isinstance(store, FileRecords):
        with reading(store.path(name)):
            yield
        return
    try:
        yield
    except ValueError as exc:
        lines = str(exc).strip().splitlines()
        raise DamagedFile(
            f"{store.where(name)}: damaged, cannot be read ({lines[0] if lines else exc!r})"
        ) from exc


class FileRecords:
    """Records as files in the state folder."""

    shared = False

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def where(self, name: str) -> str:
        return str(self.path(name))

    def read_lines(self, name: str) -> list[str]:
        path = self.path(name)
        if not path.exists():
            return []
        with reading(path):
            return path.read_text().splitlines()

    def append_line(self, name: str, line: str) -> None:
        append_line(self.path(name), line)

    def replace_lines(self, name: str, lines: list[str]) -> None:
        write_text("".join(line + "\n" for line in lines), self.path(name))

    def read_frame(self, name: str) -> pd.DataFrame:
        path = self.path(name)
        if not path.exists():
            return pd.DataFrame()
        with reading(path):
            return pd.read_parquet(path)

    def append_frame(self, name: str, frame: pd.DataFrame) -> None:
        """The table with `frame`'s rows added, rewritten atomically under its lock."""
        with self.lock(name):
            existing = self.read_frame(name)
            combined = frame if existing.empty else pd.concat([existing, frame], ignore_index=True)
            write_parquet(combined, self.path(name))

    def read_doc(self, name: str) -> str | None:
        path = self.path(name)
        if not path.exists():
            return None
        with reading(path):
            return path.read_text()

    def write_doc(self, name: str, text: str) -> None:
        write_text(text, self.path(name))

    def add_doc(self, name: str, text: str) -> bool:
        with self.lock(name):
            if self.path(name).exists():
                return False
            self.write_doc(name, text)
            return True

    def doc_names(self, folder: str) -> list[str]:
        where = self.path(folder)
        found = sorted(where.glob("*.json")) if where.exists() else []
        return [f"{folder}/{p.name}" for p in found]

    def written_at(self, name: str) -> float | None:
        path = self.path(name)
        return path.stat().st_mtime if path.exists() else None

    @contextmanager
    def lock(self, name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        path = self.path(name)
        with store_lock(path.with_name(path.name.split(".")[0] + ".lock"), timeout_s):
            yield


# One table per kind of record; every row carries its config's namespace.
SCHEMA = """
create table if not exists gameline_lines (
    namespace text not null, name text not null, seq bigserial, line text not null,
    written_at timestamptz not null default now(), primary key (namespace, name, seq));
create table if not exists gameline_frames (
    namespace text not null, name text not null, seq bigserial, body bytea not null,
    written_at timestamptz not null default now(), primary key (namespace, name, seq));
create table if not exists gameline_docs (
    namespace text not null, name text not null, body text not null,
    updated_at timestamptz not null default now(), primary key (namespace, name));
"""
CONNECT_TIMEOUT_S = 3
_schema_ready: set[str] = set()
_schema_guard = threading.Lock()


class LockTimeout(TimeoutError):
    """Another process held a record's lock for longer than the timeout."""


class SqlRecords:
    """Records in PostgreSQL, one namespace per config (its name)."""

    shared = True

    def __init__(self, url: str, namespace: str) -> None:
        from gameline.tasks.backends import libpq_url

        self.url = url
        self.dsn = libpq_url(url)
        self.namespace = namespace

    def where(self, name: str) -> str:
        from gameline.tasks.backends import redact

        return f"{name} of {self.namespace!r} in the record store at {redact(self.url)}"

    @contextmanager
    def _db(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection (one transaction, committed on success); the server unreachable is one
        BackendUnavailable in seconds naming it."""
        import psycopg

        from gameline.tasks.backends import RECORD_STORE, unavailable

        try:
            db = psycopg.connect(self.dsn, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise unavailable(RECORD_STORE, self.url, exc) from exc
        with db:
            if self.url not in _schema_ready:
                with _schema_guard:
                    # Serialised across processes: two workers creating the tables at once
                    # would collide on PostgreSQL's catalog.
                    db.execute("select pg_advisory_xact_lock(7216300731)")
                    db.execute(SCHEMA)  # type: ignore[arg-type]
                    _schema_ready.add(self.url)
            yield db

    def read_lines(self, name: str) -> list[str]:
        with self._db() as db:
            rows = db.execute(
                "select line from gameline_lines where namespace = %s and name = %s order by seq",
                (self.namespace, name),
            ).fetchall()
        return [row[0] for row in rows]

    def append_line(self, name: str, line: str) -> None:
        with self._db() as db:
            db.execute(
                "insert into gameline_lines (namespace, name, line) values (%s, %s, %s)",
                (self.namespace, name, line),
            )

    def replace_lines(self, name: str, lines: list[str]) -> None:
        with self._db() as db:
            db.execute(
                "delete from gameline_lines where namespace = %s and name = %s",
                (self.namespace, name),
            )
            with db.cursor() as cur:
                cur.executemany(
                    "insert into gameline_lines (namespace, name, line) values (%s, %s, %s)",
                    [(self.namespace, name, line) for line in lines],
                )

    def read_frame(self, name: str) -> pd.DataFrame:
        with self._db() as db:
            rows = db.execute(
                "select body from gameline_frames where namespace = %s and name = %s order by seq",
                (self.namespace, name),
            ).fetchall()
        if not rows:
            return pd.DataFrame()
        with damaged(self, name):
            parts = [pd.read_parquet(io.BytesIO(bytes(row[0]))) for row in rows]
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def append_frame(self, name: str, frame: pd.DataFrame) -> None:
        """The rows added as one chunk (one insert: no read, no lock, nothing rewritten)."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        with self._db() as db:
            db.execute(
                "insert into gameline_frames (namespace, name, body) values (%s, %s, %s)",
                (self.namespace, name, buffer.getvalue()),
            )

    def read_doc(self, name: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "select body from gameline_docs where namespace = %s and name = %s",
                (self.namespace, name),
            ).fetchone()
        return None if row is None else str(row[0])

    def write_doc(self, name: str, text: str) -> None:
        with self._db() as db:
            db.execute(
                "insert into gameline_docs (namespace, name, body) values (%s, %s, %s) "
                "on conflict (namespace, name) do update set body = excluded.body, "
                "updated_at = now()",
                (self.namespace, name, text),
            )

    def add_doc(self, name: str, text: str) -> bool:
        with self._db() as db:
            added = db.execute(
                "insert into gameline_docs (namespace, name, body) values (%s, %s, %s) "
                "on conflict (namespace, name) do nothing",
                (self.namespace, name, text),
            ).rowcount
        return added == 1

    def doc_names(self, folder: str) -> list[str]:
        with self._db() as db:
            rows = db.execute(
                "select name from gameline_docs where namespace = %s and name like %s "
                "order by name",
                (self.namespace, folder.replace("%", r"\%").replace("_", r"\_") + "/%"),
            ).fetchall()
        return [row[0] for row in rows]

    def written_at(self, name: str) -> float | None:
        with self._db() as db:
            row = db.execute(
                "select extract(epoch from max(t)) from ("
                " select max(written_at) t from gameline_lines where namespace = %s and name = %s"
                " union all select max(written_at) from gameline_frames"
                " where namespace = %s and name = %s"
                " union all select max(updated_at) from gameline_docs"
                " where namespace = %s and name = %s) w",
                (self.namespace, name) * 3,
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    @contextmanager
    def lock(self, name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """A PostgreSQL advisory lock on (namespace, name), held by its own connection for the
        block; a connection lost (a killed process) releases it."""
        key = lock_key(self.namespace, name)
        deadline = time.monotonic() + timeout_s
        with self._db() as db:  # a transaction lock: released at its end or with the connection
            while not _first(db.execute("select pg_try_advisory_xact_lock(%s)", (key,))):
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{self.where(name)}: still locked after {timeout_s:g} s")
                time.sleep(0.2)
            yield


def _first(cursor: Any) -> Any:
    row = cursor.fetchone()
    return None if row is None else row[0]


def lock_key(namespace: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for a (namespace, name) pair."""
    digest = hashlib.sha256(f"{namespace}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def records_for(config: GamelineConfig) -> RecordStore:
    """The config's record store: its shared store when it names one, else its state folder."""
    if config.records.url:
        return SqlRecords(config.records.url, config.name)
    return FileRecords(config.state_dir)
