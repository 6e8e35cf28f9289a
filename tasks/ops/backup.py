"""Backups of what cannot be rebuilt, and their restore.

A backup holds the embedded state's primary stores: the game store, manifests and quarantine,
the feature sources' stored facts, the predictions served, the registry's decisions, audit and
retrain logs, the alert log, and MLflow (its SQLite database, copied with SQLite's backup API so
a run writing to it meanwhile leaves a consistent copy, and its artifacts). Everything else is
derived (team features and states, the sources' Feast tables, the Feast registry and online
store, training sets, reports) and is rebuilt after a restore.

The files are copied under the state folder's store lock (an ingest waits for the copy), into a
temporary folder renamed when complete, with `backup.json` listing every file and its SHA-256.
A restore goes into the config's (empty) state folder, at the same path: MLflow records its
artifacts by absolute path. Production stores are backed up with their own tools (README).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.provenance import code_version
from gameline.tasks.storage import file_sha256, store_lock

# What cannot be derived, relative to the state folder (files, or folders copied whole).
PRIMARY = (
    "raw/games.parquet",
    "manifests",
    "quarantine",
    "predictions/predictions.parquet",
    "registry",
    "alerts",
    "mlflow/artifacts",
)
SOURCE_FILES = ("facts.parquet", "manifests")
MLFLOW_DB = "mlflow/mlflow.db"
INDEX = "backup.json"


class BackupError(ValueError):
    """A backup or restore that cannot be made as asked (one line: what, where, what to do)."""


class BackupSummary(BaseModel):
    """What a backup or restore copied."""

    action: str
    config: str
    state_dir: Path
    folder: Path
    files: int
    bytes: int
    seconds: float
    rebuilt: list[str] = []

    def line(self) -> str:
        moved = "to" if self.action == "backup" else "from"
        rebuilt = f"; rebuilt {', '.join(self.rebuilt)}" if self.rebuilt else ""
        return (
            f"{self.action} of {self.config} ({self.state_dir}) {moved} {self.folder}: "
            f"{self.files} files, {self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s{rebuilt}"
        )


def primary_paths(config: GamelineConfig) -> list[str]:
    """The relative paths of the state's primary stores that exist now."""
    root = state_paths(config).root
    found = [p for p in PRIMARY if (root / p).exists()]
    for source in config.features.sources:
        folder = Path("features") / "sources" / source.name
        found += [str(folder / f) for f in SOURCE_FILES if (root / folder / f).exists()]
    return found


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, even while another process writes it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    with contextlib.closing(reader) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def backup(config: GamelineConfig, to: Path | None = None) -> BackupSummary:
    """Copy the primary stores to `to` (default: `<state>-backup-<time>` beside the state
    folder); BackupError when the target exists or there is nothing to back up."""
    started = time.perf_counter()
    if config.mlflow.tracking_uri:
        raise BackupError(
            f"config {config.name} tracks runs on {config.mlflow.tracking_uri.split('@')[-1]}: "
            "back up that server's database with its own tools (README: backups)"
        )
    root = state_paths(config).root
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = (to or root.with_name(f"{root.name}-backup-{stamp}")).resolve()
    if target.exists():
        raise BackupError(f"{target} exists: back up into a new folder")
    if not (root / "raw" / "games.parquet").exists():
        raise BackupError(f"nothing to back up: {root} holds no game store")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with store_lock(state_paths(config).lock):
            for relative in primary_paths(config):
                source, copy = root / relative, work / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
                else:
                    shutil.copy2(source, copy)
            if (root / MLFLOW_DB).exists():
                copy_sqlite(root / MLFLOW_DB, work / MLFLOW_DB)
        files = {
            str(p.relative_to(work)): file_sha256(p) for p in sorted(work.rglob("*")) if p.is_file()
        }
        index = {
            "config": config.name,
            "state_dir": str(root.resolve()),
            "created_at": stamp,
            "code_version": code_version(),
            "files": files,
        }
        (work / INDEX).write_text(json.dumps(index, indent=2))
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupSummary(
        action="backup",
        config=config.name,
        state_dir=root,
        folder=target,
        files=len(files),
        bytes=sum((target / f).stat().st_size for f in files),
        seconds=time.perf_counter() - started,
    )


def restore(config: GamelineConfig, source: Path) -> BackupSummary:
    """Put a backup back into the config's state folder, which must be empty (or absent);
    every file is checked against the backup's SHA-256 first. BackupError otherwise."""
    started = time.perf_counter()
    root = state_paths(config).root
    index_path = source / INDEX
    if not index_path.exists():
        raise BackupError(f"{source} is not a Gameline backup (no {INDEX})")
    index = json.loads(index_path.read_text())
    if root.exists() and any(root.iterdir()):
        raise BackupError(
            f"the state folder {root} is not empty: restore only into an empty one (move it "
            "aside first)"
        )
    if Path(index["state_dir"]) != root.resolve():
        raise BackupError(
            f"the backup was taken of {index['state_dir']}; restore it there (MLflow records "
            "its artifacts by absolute path): set state_dir or GAMELINE_STATE_DIR to it"
        )
    files: dict[str, str] = index["files"]
    bad = [f for f, digest in files.items() if file_sha256(source / f) != digest]
    if bad:
        raise BackupError(f"{source}: {len(bad)} file(s) differ from the backup's index: {bad[:5]}")
    root.mkdir(parents=True, exist_ok=True)
    for relative in files:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
    rebuilt = rebuild_derived(config)
    return BackupSummary(
        action="restore",
        config=config.name,
        state_dir=root,
        folder=source.resolve(),
        files=len(files),
        bytes=sum((root / f).stat().st_size for f in files),
        seconds=time.perf_counter() - started,
        rebuilt=rebuilt,
    )


def rebuild_derived(config: GamelineConfig) -> list[str]:
    """The derived stores from the restored ones: team features and states, the sources'
    tables, the Feast registry and the online store (what an ingest leaves)."""
    from datetime import timedelta

    from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time
    from gameline.tasks.features.team import write_team_features

    summary = write_team_features(config)
    store = TeamFeatureStore.from_config(config)
    store.apply()
    latest = latest_feature_time(state_paths(config).team_states)
    if latest is not None:
        store.refresh_online(latest + timedelta(seconds=1))
    return [f"team features ({summary.rows} rows)", "Feast registry", "online store"]
