"""Atomic file writes: write a temp file beside the target, fsync, then rename over it."""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

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


# pyarrow's default row group: a larger frame is converted to Arrow one group at a time.
ROW_GROUP = 1024 * 1024


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame to parquet atomically. A frame of more than one row group is
    converted to Arrow a group at a time: the same file as `to_parquet` writes, without a
    whole Arrow copy of the frame beside it (a million games' feature table: 400 MB)."""
    if len(frame) <= ROW_GROUP:
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return atomic_write(path, lambda tmp: _write_row_groups(frame, tmp))


def _write_row_groups(frame: pd.DataFrame, tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for start in range(0, len(frame), ROW_GROUP):
            part = frame.iloc[start : start + ROW_GROUP]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim` among the process's own symbols, where the C library has one
    (musl and macOS have not; Windows has no such handle). Looked up on first use: at import,
    `ctypes.util.find_library` ran `ldconfig` (13 ms) in every process, the CLI's included."""
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError, TypeError):
        return None


def release_memory() -> None:
    """Hand what the last step freed back to the system. Freed memory stays with the process
    otherwise: in Arrow's memory pool (its strings and parquet buffers) and in glibc's heap,
    which returns only its top pages (pandas' and NumPy's freed arrays sit below newer ones).
    A million games: each ingest step started on 1.1 GB of resident memory, freed but kept,
    instead of 0.2-0.4 GB. (Dask's workers trim glibc's heap the same way.)"""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if (trim := _malloc_trim()) is not None:
        trim(0)


P = ParamSpec("P")
R = TypeVar("R")


def releasing_memory(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, then `release_memory` once its frames are gone (a step of the ingest)."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            release_memory()

    return run


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a parquet file with its strings Arrow-backed, as Gameline writes them: pandas' own
    reader turns them into Python objects (a million games' string columns: ~400 MB more, and
    every copy, filter and comparison of them a loop in Python)."""
    with pd.option_context("mode.string_storage", "pyarrow"):
        return pd.read_parquet(path, columns=columns)


def json_text(payload: Any) -> str:
    """The JSON text Gameline writes (indented, sorted keys, ISO dates, a final newline)."""
    return json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"


def file_sha256(path: Path) -> str:
    """A file's SHA-256 (read in blocks, never whole)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object Gameline wrote to remember something (a build, a load); empty when there
    is none or it cannot be read (the caller then does the work again)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_json(payload: Any, path: Path) -> Path:
    """Write JSON atomically (sorted keys, ISO dates)."""
    text = json_text(payload)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def append_line(path: Path, line: str) -> None:
    """Add one line to a log (JSON lines), flushed to disk before returning: a log line is
    whole or absent, never half-written by a kill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


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


# What a full, read-only or forbidden state folder raises: OSError with one of these errnos,
# or SQLite's own error (Feast's embedded online store, MLflow's SQLite store).
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM}
SQLITE_DISK = ("disk is full", "readonly database", "unable to open database file")
DISK_ADVICE = "free space, or make the state folder writable, and run again"


def disk_trouble(exc: BaseException | None) -> str | None:
    """One line on a write the disk refused (full, read-only, not permitted), from `exc` or
    what caused it; None for any other failure. A retry cannot mend it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            # The file being written, not the temp file it is written through.
            where = re.sub(r"/\.([^/]+)\.[^./]+\.tmp$", r"/\1", str(exc.filename or "")) or (
                "the state folder"
            )
            reason = exc.strerror or os.strerror(exc.errno or 0)
            return f"{where}: {reason}: {DISK_ADVICE}"
        if type(exc).__name__ == "OperationalError" and any(m in str(exc) for m in SQLITE_DISK):
            first = str(exc).strip().splitlines()[0].split("\n")[0]
            return f"a SQLite store in the state folder: {first}: {DISK_ADVICE}"
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
