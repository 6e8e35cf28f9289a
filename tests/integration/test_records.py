"""The record store's contract, the same for the state folder's files and for PostgreSQL (this
machine's server; the PostgreSQL cases skip with the reason where it is absent): logs, tables
that grow, documents, locks across connections, a damaged record named, a server that is down
named within seconds, two configs in one database kept apart."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.backends import BackendUnavailable
from gameline.tasks.records import (
    ALERTS,
    DECISIONS,
    PREDICTIONS,
    FileRecords,
    LockTimeout,
    RecordStore,
    SqlRecords,
    parse_lines,
)
from gameline.tasks.storage import DamagedFile
from tests.servers import database, free_port, need_services, postgres_url


@pytest.fixture(scope="module")
def records_db() -> Iterator[str]:
    """One PostgreSQL database for this module's cases (each uses its own namespace)."""
    need_services()
    with database(f"gl_records_{uuid.uuid4().hex[:8]}") as name:
        yield postgres_url(name)


@pytest.fixture(params=["files", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordStore:
    if request.param == "files":
        return FileRecords(tmp_path)
    url = request.getfixturevalue("records_db")
    return SqlRecords(url, f"league_{uuid.uuid4().hex[:6]}")


def test_logs_tables_and_documents_round_trip(store: RecordStore) -> None:
    assert store.read_lines(ALERTS) == [] and store.read_frame(PREDICTIONS).empty
    assert store.read_doc(f"{DECISIONS}/a.json") is None and store.doc_names(DECISIONS) == []
    assert store.written_at(PREDICTIONS) is None
    store.append_line(ALERTS, '{"a": 1}')
    store.append_line(ALERTS, '{"a": 2}')
    assert store.read_lines(ALERTS) == ['{"a": 1}', '{"a": 2}']
    store.replace_lines(ALERTS, ['{"b": 3}'])
    assert store.read_lines(ALERTS) == ['{"b": 3}']
    first = pd.DataFrame({"game_id": ["g1", "g2"], "p": [0.6, 0.4]})
    store.append_frame(PREDICTIONS, first)
    store.append_frame(PREDICTIONS, first.assign(p=[0.7, 0.3]))
    table = store.read_frame(PREDICTIONS)
    assert table["p"].tolist() == [0.6, 0.4, 0.7, 0.3]
    assert store.written_at(PREDICTIONS) == pytest.approx(time.time(), abs=60)
    store.write_doc(f"{DECISIONS}/2-v2.json", "second")
    store.write_doc(f"{DECISIONS}/1-v1.json", "first")
    store.write_doc(f"{DECISIONS}/1-v1.json", "first, again")  # the same name: replaced
    store.write_doc("registry/decisions_old/x.json", "elsewhere")  # `_` is no wildcard
    assert store.doc_names(DECISIONS) == [f"{DECISIONS}/1-v1.json", f"{DECISIONS}/2-v2.json"]
    assert store.read_doc(f"{DECISIONS}/1-v1.json") == "first, again"
    assert store.add_doc("manifests/m.json", "first ingest")
    assert not store.add_doc("manifests/m.json", "a second worker's")  # the first is kept
    assert store.read_doc("manifests/m.json") == "first ingest"


def test_a_damaged_log_line_is_named(store: RecordStore) -> None:
    store.append_line(ALERTS, "{not json")
    with pytest.raises(DamagedFile, match=r"alerts/alerts\.jsonl"):
        parse_lines(store, ALERTS, json.loads)


def test_two_configs_in_one_database_are_kept_apart(records_db: str) -> None:
    nba, nfl = SqlRecords(records_db, "nba"), SqlRecords(records_db, "nfl")
    nba.append_line(ALERTS, "nba's")
    nfl.append_frame(PREDICTIONS, pd.DataFrame({"game_id": ["x"]}))
    assert nfl.read_lines(ALERTS) == [] and nba.read_frame(PREDICTIONS).empty
    assert nba.read_lines(ALERTS) == ["nba's"]


def test_a_lock_holds_across_connections_and_a_waiter_times_out(records_db: str) -> None:
    """Two holders of one name never overlap; the same name in another namespace does not
    wait; a waiter gives up with one line naming the record."""
    league = f"league_{uuid.uuid4().hex[:6]}"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with SqlRecords(records_db, league).lock(ALERTS):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        waiter = SqlRecords(records_db, league)
        with (
            pytest.raises(LockTimeout, match=r"alerts/alerts\.jsonl"),
            waiter.lock(ALERTS, timeout_s=0.5),
        ):
            pass
        with SqlRecords(records_db, "other").lock(ALERTS, timeout_s=0.5):
            pass  # another config's lock of the same record is free
    finally:
        release.set()
        thread.join()
    with SqlRecords(records_db, league).lock(ALERTS, timeout_s=2):
        pass  # released with its transaction


def test_a_record_store_that_is_down_is_named_within_seconds() -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/nowhere"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="record store") as failure:
        SqlRecords(url, "nba").read_lines(ALERTS)
    assert time.monotonic() - started < 5
    assert "secret" not in str(failure.value) and "127.0.0.1" in str(failure.value)
