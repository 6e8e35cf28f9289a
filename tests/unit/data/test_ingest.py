"""Ingest: content hashes, idempotent upsert, conflicts quarantined, atomic writes."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks import storage
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import CONTENT_COLUMNS, conform
from gameline.tasks.data.ingest import (
    content_hash,
    read_store,
    row_hashes,
    stable_order,
    stage_input,
    store_input,
    upsert_games,
)
from gameline.tasks.data.simulator import simulate_games
from gameline.tasks.data.validate import check_input
from gameline.tasks.storage import write_parquet


@pytest.fixture
def config(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return sim_config()


def frame(config: GamelineConfig, scores: list[tuple[float | None, float | None]]) -> pd.DataFrame:
    n = len(scores)
    raw = pd.DataFrame(
        {
            "season": [2025] * n,
            "start_time": pd.date_range("2025-01-05", periods=n, freq="D", tz="UTC"),
            "home_team": ["T01"] * n,
            "away_team": ["T02"] * n,
            "home_score": [s[0] for s in scores],
            "away_score": [s[1] for s in scores],
        }
    )
    return conform(raw, config.league, source="test")


def test_hash_ignores_row_order_and_source_name(config: GamelineConfig) -> None:
    games = frame(config, [(100, 90), (80, 95), (None, None)])
    shuffled = games.iloc[[2, 0, 1]].assign(source="elsewhere")
    assert content_hash(games) == content_hash(shuffled)
    changed = games.copy()
    changed.loc[0, "home_score"] = 101
    assert content_hash(changed) != content_hash(games)


def test_the_content_hash_is_pandas_row_hashes_in_game_order(config: GamelineConfig) -> None:
    """The hash stays what it was when it sorted the frame and hashed it with pandas (a manifest
    written then still recognises the same content): on a simulated league with nulls in every
    kind of column, repeated ids and starts, and an index not 0..n-1."""
    games = simulate_games(config.source.simulator, config.league).sample(frac=1, random_state=3)
    games.index = games.index * 7 + 11
    rows = games.index
    games.loc[rows[::3], "game_id"] = pd.NA
    games.loc[rows[::4], "start_time"] = pd.NaT
    games.loc[rows[::5], ["status", "home_team"]] = pd.NA
    games.loc[rows[::6], ["home_score", "neutral", "season"]] = pd.NA
    games.loc[rows[1::9], "game_id"] = games["game_id"].iloc[0]  # a repeated id
    reference = pd.util.hash_pandas_object(games[CONTENT_COLUMNS], index=False).to_numpy()
    assert (row_hashes(games[CONTENT_COLUMNS]) == reference).all()
    ordered = games[CONTENT_COLUMNS].sort_values(
        ["game_id", "start_time"], na_position="last", kind="stable"
    )
    expected = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    assert content_hash(games) == hashlib.sha256(expected.tobytes()).hexdigest()
    assert content_hash(games.iloc[:0]) == hashlib.sha256(b"").hexdigest()
    for keys in (["start_time", "game_id"], ["game_id", "start_time"]):  # the store's order too
        pandas = games.reset_index(drop=True).sort_values(keys, kind="stable").index.to_numpy()
        assert (stable_order(games, keys) == pandas).all()


def test_upsert_counts_new_duplicate_update_and_conflict(config: GamelineConfig) -> None:
    first = frame(config, [(100, 90), (None, None), (None, None)])
    stored = upsert_games(read_store(Path("/nonexistent")), first, "m1")
    assert (stored.new, stored.updated, stored.duplicate) == (3, 0, 0)
    later = frame(config, [(100, 90), (99, 98), (None, None)])
    again = upsert_games(stored.games, later, "m2")
    assert (again.new, again.updated, again.duplicate, len(again.conflicts)) == (0, 1, 2, 0)
    turned_final = again.games.set_index("game_id").loc[later["game_id"].iloc[1]]
    assert turned_final["status"] == "final" and turned_final["manifest_id"] == "m2"
    conflicting = frame(config, [(100, 91), (99, 98), (None, None)])
    refused = upsert_games(again.games, conflicting, "m3")
    assert len(refused.conflicts) == 1
    assert "a stored final game may not change (away_score)" in refused.conflicts["rules"].iloc[0]
    kept = refused.games.set_index("game_id").loc[conflicting["game_id"].iloc[0]]
    assert kept["away_score"] == 90  # the stored final score was not overwritten


def test_stage_input_recognises_content_seen_before(config: GamelineConfig) -> None:
    staged = stage_input(config)
    assert staged.earlier is None and staged.path.exists()
    assert staged.read > 0 and len(staged.content_hash) == 64
    checked = check_input(config, staged.path, staged.label, datetime.now(UTC))
    manifest = store_input(config, staged, checked, datetime.now(UTC))
    # The same content again: recognised by its hash as the stored manifest, nothing staged.
    staged.path.unlink(missing_ok=True)  # (storing it moved it out of staging)
    again = stage_input(config)
    assert again.earlier is not None and again.earlier.manifest_id == manifest.manifest_id
    assert again.content_hash == staged.content_hash and not again.path.exists()
    assert again.restoring is None


def test_check_input_writes_report_and_splits(config: GamelineConfig) -> None:
    staged = stage_input(config)
    checked = check_input(config, staged.path, staged.label, datetime.now(UTC))
    assert checked.valid == staged.read and checked.rejected == 0
    assert checked.report_path.exists()
    assert "Validation of" in checked.report_path.read_text()
    assert (state_paths(config).reports / "validation" / "latest.html").exists()


def test_a_step_releases_memory_once_it_returns_or_fails(
    config: GamelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingest's steps hand freed memory back after they end, failed or not, and keep the
    signature Prefect builds their tasks' parameters from."""
    released: list[int] = []
    monkeypatch.setattr(storage, "release_memory", lambda: released.append(1))
    staged = stage_input(config)
    assert staged.read > 0 and released == [1]
    assert list(inspect.signature(stage_input).parameters) == ["config", "file"]
    with pytest.raises(FileNotFoundError):
        check_input(config, staged.path.with_name("absent.parquet"), "x", datetime.now(UTC))
    assert released == [1, 1]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "games.parquet"
    write_parquet(pd.DataFrame({"a": [1, 2]}), target)

    class Unwritable(pd.DataFrame):
        def to_parquet(self, *args: object, **kwargs: object) -> None:
            Path(str(args[0])).write_bytes(b"half a parq")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_parquet(Unwritable({"a": [3]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["games.parquet"]  # no temp file left


def test_a_frame_of_several_row_groups_is_written_as_to_parquet_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Converted to Arrow a row group at a time: the same types, pandas metadata, row groups
    and values as `to_parquet` with that row group size (Python strings null only in the last
    group, Arrow strings, nullable numbers, times with a zone)."""
    import pyarrow.parquet as pq

    import gameline.tasks.storage as storage

    frame = pd.DataFrame(
        {
            "team": ["A", "B", "C", "D", "E", "F", None],
            "game_id": pd.array(list("abcdefg"), dtype="string[pyarrow]"),
            "score": pd.array([1.5, None, 3, 4, 5, 6, 7], dtype="Float64"),
            "at": pd.date_range("2024-01-01", periods=7, freq="D", tz="UTC"),
        },
        index=pd.RangeIndex(3, 10),
    )
    monkeypatch.setattr(storage, "ROW_GROUP", 3)
    write_parquet(frame, tmp_path / "groups.parquet")
    frame.to_parquet(tmp_path / "pandas.parquet", index=False, row_group_size=3)
    ours, theirs = (pq.ParquetFile(tmp_path / n) for n in ("groups.parquet", "pandas.parquet"))
    assert ours.schema_arrow.equals(theirs.schema_arrow, check_metadata=True)
    sizes = [ours.metadata.row_group(i).num_rows for i in range(ours.num_row_groups)]
    assert sizes == [3, 3, 1]
    assert sizes == [theirs.metadata.row_group(i).num_rows for i in range(theirs.num_row_groups)]
    assert ours.read().equals(theirs.read())


def _ingest_once(config: GamelineConfig) -> tuple[Path, bytes]:
    staged = stage_input(config)
    checked = check_input(config, staged.path, staged.label, datetime.now(UTC))
    manifest = store_input(config, staged, checked, datetime.now(UTC))
    path = state_paths(config).manifests / f"{manifest.manifest_id}.json"
    return path, path.read_bytes()


def test_a_lost_game_store_is_rebuilt_from_an_input_seen_before(config: GamelineConfig) -> None:
    """raw/games.parquet deleted, its manifest kept: the same input is ingested again (it used
    to say "seen before" and fail later with a numpy message); the manifest stays as it was."""
    manifest_path, manifest_bytes = _ingest_once(config)
    raw = state_paths(config).raw_games
    before = pd.read_parquet(raw)
    raw.unlink()
    staged = stage_input(config)
    assert staged.earlier is None and staged.restoring
    assert "missing or empty: ingesting it again" in staged.restoring
    checked = check_input(config, staged.path, staged.label, datetime.now(UTC))
    restored = store_input(config, staged, checked, datetime.now(UTC))
    assert restored.new == len(before)
    pd.testing.assert_frame_equal(
        pd.read_parquet(raw).drop(columns=["ingested_at"], errors="ignore"),
        before.drop(columns=["ingested_at"], errors="ignore"),
    )
    assert manifest_path.read_bytes() == manifest_bytes  # never rewritten


def test_a_manifest_is_never_overwritten_by_a_concurrent_ingest(config: GamelineConfig) -> None:
    """Two ingests of the same file staged at once: the second to store finds the first's
    manifest, stores nothing and reports a repeat (it used to rewrite the manifest, new=0)."""
    first = stage_input(config)
    second = stage_input(config)
    assert first.earlier is None and second.earlier is None
    now = datetime.now(UTC)
    checked_first = check_input(config, first.path, first.label, now)
    checked_second = check_input(config, second.path, second.label, now)
    stored = store_input(config, first, checked_first, now)
    path = state_paths(config).manifests / f"{stored.manifest_id}.json"
    manifest_bytes, store_bytes = path.read_bytes(), state_paths(config).raw_games.read_bytes()
    repeat = store_input(config, second, checked_second, now)
    assert (repeat.new, repeat.updated) == (0, 0) and repeat.duplicate == stored.new
    assert path.read_bytes() == manifest_bytes
    assert state_paths(config).raw_games.read_bytes() == store_bytes


def test_a_reader_of_some_store_columns_gets_them_as_the_whole_store_has_them(
    config: GamelineConfig, tmp_path: Path
) -> None:
    """`read_store(path, columns)`: the same values and types as those columns of the whole
    store, in the order asked; a column of the contract an older store lacks comes as nulls,
    and a store not written yet as no rows."""
    games = simulate_games(config.source.simulator, config.league)
    stored = upsert_games(read_store(tmp_path / "none.parquet"), games, "m1").games
    path = write_parquet(stored.drop(columns=["home_won"]), tmp_path / "games.parquet")
    wanted = ["status", "game_id", "home_won", "start_time"]
    some = read_store(path, wanted)
    pd.testing.assert_frame_equal(some, read_store(path)[wanted])
    assert list(some.columns) == wanted and some["home_won"].isna().all()
    empty = read_store(tmp_path / "none.parquet", wanted)
    assert list(empty.columns) == wanted and empty.empty
