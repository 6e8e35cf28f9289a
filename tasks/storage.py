"""Atomic file writes: write a temp file beside the target, fsync, then rename over it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it over `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)`, then atomically move the result to `path`."""
    with _atomic_target(path) as tmp:
        write(tmp)
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame to parquet atomically."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_json(payload: Any, path: Path) -> Path:
    """Write JSON atomically (sorted keys, ISO dates)."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def store_lock(path: Path, timeout_s: float = 600.0) -> FileLock:
    """An inter-process lock serialising writers of one state folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout_s)


def keep_newest(folder: Path, pattern: str, keep: int) -> list[Path]:
    """Remove all but the newest `keep` files matching `pattern` (by name: they start with a
    UTC time stamp); returns what was removed."""
    files = sorted(folder.glob(pattern)) if folder.exists() else []
    removed = files[:-keep] if keep > 0 else files
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class DamagedFile(ValueError):
    """A file in the state folder that exists but cannot be read."""


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any failure to read or parse `path` into one DamagedFile naming it (a missing file
    stays a FileNotFoundError)."""
    try:
        yield
    except (FileNotFoundError, DamagedFile):
        raise
    except (OSError, ValueError) as exc:  # pyarrow, json and pydantic errors are ValueErrors
        lines = str(exc).strip().splitlines()
        reason = (lines[0] if lines else type(exc).__name__).replace("'<Buffer>'", "the file")
        raise DamagedFile(
            f"{path}: damaged, cannot be read ({reason}); move it aside (or restore it from a "
            "backup) and run again"
        ) from exc
