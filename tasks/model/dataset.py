"""Training sets as files named by their content: two retrains that overlap can never fit on
one dataset and register on another, because each passes the path of its own."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pandas as pd

from gameline.tasks.storage import write_parquet

# Older training sets are removed once there are more than KEEP and they are older than a day.
KEEP = 5
KEEP_SECONDS = 86_400


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and values (in row order)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_training_set(frame: pd.DataFrame, folder: Path) -> Path:
    """Write a training set as `training_set-<hash>.parquet` (once: the same content again
    reuses the file) and prune old ones; returns its path."""
    path = folder / f"training_set-{frame_hash(frame)[:16]}.parquet"
    if not path.exists():
        write_parquet(frame, path)
    prune(folder, keep=path)
    return path


def prune(folder: Path, keep: Path) -> list[Path]:
    """Remove training sets beyond the newest KEEP that are over a day old (never `keep`)."""
    files = sorted(folder.glob("training_set-*.parquet"), key=lambda p: p.stat().st_mtime)
    cutoff = time.time() - KEEP_SECONDS
    removed = [p for p in files[:-KEEP] if p != keep and p.stat().st_mtime < cutoff]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
