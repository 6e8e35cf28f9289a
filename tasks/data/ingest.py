"""Ingest: content-hashed manifests, idempotent upsert into the raw game store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.core.util.hashing import combine_hash_arrays
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import (
    ADDED_COLUMNS,
    CONTENT_COLUMNS,
    GAME_COLUMNS,
    GAME_DTYPES,
    SOURCE_LINE,
    STRING,
    empty_games,
)
from gameline.tasks.data.sources import load_games
from gameline.tasks.data.validate import ACTION, RULES, CheckedInput, check_bad_share, rule_counts
from gameline.tasks.provenance import code_version
from gameline.tasks.records import MANIFESTS, RecordStore, records_for
from gameline.tasks.storage import (
    read_parquet,
    reading,
    releasing_memory,
    store_lock,
    write_json,
    write_parquet,
)

CONFLICT_RULE = "a stored final game may not change"


class Manifest(BaseModel):
    """What one ingest of one input did (stored as manifests/<manifest_id>.json)."""

    manifest_id: str
    content_hash: str
    source: str
    path: str | None
    league: str
    read: int
    new: int
    updated: int
    duplicate: int
    quarantined: int
    repaired: int
    quarantine_file: str | None
    rules: dict[str, int] = {}
    created_at: datetime
    code_version: str


def content_hash(games: pd.DataFrame) -> str:
    """SHA-256 of the normalised content, independent of row order and of the source's name:
    each row's pandas hash (`hash_pandas_object` of the content columns), in game id and start
    time order (a stable sort, missing values last)."""
    order = stable_order(games, ["game_id", "start_time"])
    return hashlib.sha256(row_hashes(games[CONTENT_COLUMNS])[order].tobytes()).hexdigest()


def stable_order(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The row positions of `frame.sort_values(columns, kind="stable")` (missing values last),
    sorted by Arrow: pandas sorts a string key through a categorical of Python strings (a
    million game ids: 0.8 s)."""
    keys = pa.table({str(i): pa.array(frame[column]) for i, column in enumerate(columns)})
    sort_keys = [(str(i), "ascending", "at_end") for i in range(len(columns))]
    return pc.sort_indices(keys, sort_keys=sort_keys).to_numpy()


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """`pd.util.hash_pandas_object(frame, index=False)`, with each Arrow string column hashed
    once per distinct value (Arrow's dictionary encoding, as pandas does for a categorical):
    pandas hashes such a column through a Python object array (a million games: 2.2 -> 0.6 s
    with the sort above). A test compares the two on frames with nulls of every kind."""
    columns = [_column_hashes(frame[column]) for column in frame.columns]
    return combine_hash_arrays(iter(columns), len(columns))  # pandas' own row combination


def _column_hashes(values: pd.Series) -> np.ndarray:
    if values.dtype != STRING:
        return pd.util.hash_array(values.array)
    encoded = pc.dictionary_encode(pa.array(values))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(distinct, categorize=False)
    codes = encoded.indices
    out = hashed.take(codes.fill_null(0).to_numpy()) if len(hashed) else np.zeros(len(values))
    out = out.astype(np.uint64, copy=False)
    out[codes.is_null().to_numpy(zero_copy_only=False)] = np.iinfo(np.uint64).max  # as pandas
    return out


def manifest_id_for(digest: str) -> str:
    """The short id of a manifest (first 16 hex digits of its content hash)."""
    return digest[:16]


def find_manifest(manifests_dir: Path, digest: str) -> Manifest | None:
    """The manifest of an earlier ingest of the same content, if any."""
    path = manifests_dir / f"{manifest_id_for(digest)}.json"
    if not path.exists():
        return None
    found = Manifest.model_validate_json(path.read_text())
    return found if found.content_hash == digest else None


def list_manifests(manifests_dir: Path) -> list[Manifest]:
    """All manifests, oldest first."""
    found = [Manifest.model_validate_json(p.read_text()) for p in manifests_dir.glob("*.json")]
    return sorted(found, key=lambda m: m.created_at)


def read_store(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The raw game store (empty when nothing has been ingested yet): every contract column,
    or only `columns` (in that order; a reader that needs a few does not hold the rest: a
    million games' lines, sources and manifest ids are 150 MB)."""
    wanted = GAME_COLUMNS if columns is None else columns
    if not path.exists():
        return empty_games()[wanted]
    with reading(path):
        present = pq.read_schema(path).names if columns is not None else None
        stored = read_parquet(
            path, None if present is None else [c for c in wanted if c in present]
        )
    for column in ADDED_COLUMNS:  # a store written before the column was in the contract
        if column in wanted and column not in stored:
            stored[column] = pd.NA
    # Converted and put in contract order only where it differs: a copy of each (a million
    # games: 0.9 s and 230 MB) when the store already has the contract's types and order.
    stored = stored.astype({c: GAME_DTYPES[c] for c in wanted}, copy=False)
    return stored if list(stored.columns) == wanted else stored[wanted]


def _same(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Element-wise equality where two nulls are equal."""
    both_null = left.isna().to_numpy() & right.isna().to_numpy()
    equal = left.astype(right.dtype).eq(right).fillna(False).to_numpy(dtype=bool)
    return both_null | equal


def in_set(values: pd.Series, candidates: pd.Series) -> np.ndarray:
    """`values.isin(candidates)` for string columns, hashed in Arrow (pandas loops in Python)."""
    found = pc.is_in(
        pa.array(values, type=pa.string()), value_set=pa.array(candidates, type=pa.string())
    )
    return found.to_numpy(zero_copy_only=False).astype(bool)


@dataclass(frozen=True)
class Upsert:
    """The store after an upsert, what changed, and the rows refused as conflicts."""

    games: pd.DataFrame = field(repr=False)
    new: int
    updated: int
    duplicate: int
    conflicts: pd.DataFrame = field(repr=False)


def upsert_games(stored: pd.DataFrame, incoming: pd.DataFrame, manifest_id: str) -> Upsert:
    """Insert new games; a scheduled game may change (e.g. turn final); a final one may not."""
    rows = incoming.assign(manifest_id=manifest_id)
    # Only the games the store holds are compared with it (a first ingest of a million games
    # built a million rows of nulls to compare with).
    n, compared = len(rows), CONTENT_COLUMNS[1:]
    known = in_set(rows["game_id"], stored["game_id"]) if len(stored) else np.zeros(n, bool)
    at = np.flatnonzero(known)
    old = stored.set_index("game_id").reindex(rows["game_id"].iloc[at])
    mine = rows.iloc[at]
    differs = np.zeros((n, len(compared)), dtype=bool)
    differs[at] = np.column_stack(
        [~_same(old[c].reset_index(drop=True), mine[c].reset_index(drop=True)) for c in compared]
    ).reshape(len(at), len(compared))
    changed = differs.any(axis=1)
    # A column added to the contract later (lines, opening odds) may be filled in on a final
    # game: a value where the store had none is new information, not a changed result.
    filled = np.zeros_like(differs)
    for i, column in enumerate(compared):
        if column in ADDED_COLUMNS:
            filled[at, i] = old[column].isna().to_numpy()
    was_final = np.zeros(n, dtype=bool)
    was_final[at] = (old["status"] == "final").fillna(False).to_numpy(dtype=bool)
    conflict = known & (differs & ~filled).any(axis=1) & was_final
    update = known & changed & ~conflict
    new = ~known
    conflicts = rows[conflict].copy()
    conflicts[RULES] = [
        f"{CONFLICT_RULE} ({', '.join(np.asarray(compared)[(differs & ~filled)[i]])})"
        for i in np.flatnonzero(conflict)  # conflicts are few: they are quarantined one by one
    ]
    conflicts[ACTION] = "not stored"
    written = rows.loc[new | update, GAME_COLUMNS].astype(GAME_DTYPES, copy=False)
    kept = stored[~in_set(stored["game_id"], written["game_id"])] if len(stored) else stored
    games = pd.concat([kept, written], ignore_index=True) if len(kept) else written
    # Put in order, then renumbered in place (reset_index would copy every column again).
    games = games.take(stable_order(games, ["start_time", "game_id"]))
    games.index = pd.RangeIndex(len(games))
    return Upsert(
        games=games,
        new=int(new.sum()),
        updated=int(update.sum()),
        duplicate=int((known & ~changed).sum()),
        conflicts=conflicts,
    )


def quarantine_frame(
    rejected: pd.DataFrame,
    conflicts: pd.DataFrame,
    file_label: str,
    manifest_id: str,
    now: datetime,
) -> pd.DataFrame:
    """Every refused or repaired row of one input, with the file, line and rules it broke."""
    parts = [p for p in (rejected, conflicts) if len(p)]
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    frame["file"] = file_label
    frame["manifest_id"] = manifest_id
    frame["quarantined_at"] = pd.Timestamp(now)
    if SOURCE_LINE in frame:
        frame = frame.sort_values(SOURCE_LINE, kind="stable")
    return frame.astype({c: "string" for c in (RULES, ACTION, "file")}).reset_index(drop=True)


def commit_ingest(
    raw_path: Path,
    manifest_dir: Path,
    quarantine_path: Path | None,
    games: pd.DataFrame,
    quarantine: pd.DataFrame,
    manifest: Manifest,
) -> None:
    """Write quarantine, store, then manifest, each atomically (a crash leaves no half file;
    a crash before the manifest just means the same input is processed again, harmlessly)."""
    if quarantine_path is not None and len(quarantine):
        write_parquet(quarantine, quarantine_path)
    write_parquet(games, raw_path)
    path = manifest_dir / f"{manifest.manifest_id}.json"
    if not path.exists():  # a manifest records the first ingest of its content: never rewritten
        write_json(manifest.model_dump(mode="json"), path)


def repeated_manifest(earlier: Manifest) -> Manifest:
    """How a repeat of an ingested input counts: nothing new, everything a duplicate."""
    unchanged = earlier.new + earlier.updated + earlier.duplicate
    return earlier.model_copy(update={"new": 0, "updated": 0, "duplicate": unchanged})


class StagedInput(BaseModel):
    """A normalised input waiting in the staging folder."""

    path: Path
    label: str
    source: str
    content_hash: str
    manifest_id: str
    read: int
    earlier: Manifest | None = None
    # Set when a manifest says this content was ingested but the game store is gone: it is
    # ingested again (the manifest itself is kept as it was).
    restoring: str | None = None


@releasing_memory
def stage_input(config: GamelineConfig, file: Path | None = None) -> StagedInput:
    """Read and normalise the source, hash it, and park it in staging (unless seen before)."""
    games = load_games(config, file)
    digest = content_hash(games)
    paths = state_paths(config)
    source_file = config.source_path(file)
    label = str(source_file) if source_file is not None else str(games["source"].iloc[0])
    staged = StagedInput(
        path=paths.staging / f"{manifest_id_for(digest)}.parquet",
        label=label,
        source=str(games["source"].iloc[0]) if len(games) else config.source.kind,
        content_hash=digest,
        manifest_id=manifest_id_for(digest),
        read=len(games),
        earlier=find_manifest(paths.manifests, digest),
    )
    if staged.earlier is not None and read_store(paths.raw_games).empty:
        staged.restoring = (
            f"manifest {staged.manifest_id} says this input was ingested at "
            f"{staged.earlier.created_at:%Y-%m-%d %H:%M} UTC, but the game store "
            f"{paths.raw_games} is missing or empty: ingesting it again"
        )
        staged.earlier = None
    if staged.earlier is None:
        write_parquet(games, staged.path)
    return staged


@releasing_memory
def store_input(
    config: GamelineConfig, staged: StagedInput, checked: CheckedInput, now: datetime
) -> Manifest:
    """Upsert the valid rows under the state lock; quarantine the rest; write the manifest.

    Raises ValidationFailed (storing nothing) when too many rows were refused.
    """
    paths = state_paths(config)
    with store_lock(paths.lock):
        stored = read_store(paths.raw_games)
        done = find_manifest(paths.manifests, staged.content_hash)
        if done is not None and not stored.empty and staged.restoring is None:
            # The same content was stored by another ingest while this one validated it (the
            # two shared the staging files, which that one has already removed).
            _remove(staged.path, checked.valid_path, checked.rejected_path)
            return repeated_manifest(done)
        valid = read_parquet(checked.valid_path)
        rejected = read_parquet(checked.rejected_path)
        result = upsert_games(stored, valid, staged.manifest_id)
        quarantine = quarantine_frame(
            rejected, result.conflicts, staged.label, staged.manifest_id, now
        )
        check_bad_share(staged.label, staged.read, quarantine, config.validation)
        q_path = paths.quarantine / f"{staged.manifest_id}.parquet" if len(quarantine) else None
        repaired = int((quarantine[ACTION] == "odds removed").sum()) if len(quarantine) else 0
        manifest = Manifest(
            manifest_id=staged.manifest_id,
            content_hash=staged.content_hash,
            source=staged.source,
            path=staged.label if Path(staged.label).exists() else None,
            league=config.league.name,
            read=staged.read,
            new=result.new,
            updated=result.updated,
            duplicate=result.duplicate,
            quarantined=len(quarantine) - repaired,
            repaired=repaired,
            quarantine_file=str(q_path) if q_path else None,
            rules=rule_counts(quarantine),
            created_at=now,
            code_version=code_version(),
        )
        commit_ingest(paths.raw_games, paths.manifests, q_path, result.games, quarantine, manifest)
    share_manifest(records_for(config), manifest)
    _remove(staged.path, checked.valid_path, checked.rejected_path)
    return manifest


def share_manifest(records: RecordStore, manifest: Manifest) -> bool:
    """With a shared record store, the manifest there too, once per content: the league's
    ingests as every worker sees them (each worker's game store keeps its own copy beside the
    data it describes). Whether it was added (False: another worker ingested it first)."""
    if not records.shared:
        return False
    name = f"{MANIFESTS}/{manifest.manifest_id}.json"
    return records.add_doc(name, manifest.model_dump_json(indent=2) + "\n")


def _remove(*leftovers: Path) -> None:
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
