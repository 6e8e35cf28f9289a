"""Whether the derived feature tables are current: a fingerprint of everything they are built
from (the game store, each source's stored facts, the feature and league settings, Gameline's
own code), kept beside them with the files the build wrote and its summary. A daily run on a
day with nothing new reads the summary instead of rebuilding the tables (about 1 s on the NBA
file, 12 s on a million games).

Any change rebuilds: a new or corrected result, a new fact, an edited setting, a changed line
of code, a table deleted, replaced or moved (its path, size and modification time are part of
the record)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.storage import file_sha256, read_json_object, write_json

PACKAGE = Path(__file__).parents[1]  # gameline.tasks: what the feature build runs


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The digest of every module of gameline.tasks (read once per process: about 100 files)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def digest_or_absent(path: Path) -> str:
    """A source's stored facts: absent until its first ingest."""
    return file_sha256(path) if path.exists() else "absent"


def inputs_fingerprint(config: GamelineConfig) -> str:
    """The digest of what the feature tables are built from."""
    paths, sources = state_paths(config), config.features.sources
    parts = {
        "games": file_sha256(paths.raw_games),  # ingest wrote it before the features
        "facts": {s.name: digest_or_absent(paths.source_facts(s.name)) for s in sources},
        "features": config.features.model_dump(mode="json"),
        "league": config.league.model_dump(mode="json"),
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def built_tables(config: GamelineConfig) -> list[Path]:
    """Every table the feature build writes."""
    paths = state_paths(config)
    sources = [paths.source_table(s.name) for s in config.features.sources]
    return [paths.team_features, paths.team_states, *sources]


def tables_signature(tables: list[Path]) -> list[list[Any]] | None:
    """Each table's absolute path, size and modification time (None if one is missing)."""
    if not all(path.exists() for path in tables):
        return None
    return [[str(p.resolve()), (st := p.stat()).st_size, st.st_mtime_ns] for p in tables]


def record_path(config: GamelineConfig) -> Path:
    return state_paths(config).root / "features" / "build.json"


def current_build(config: GamelineConfig, inputs: str) -> dict[str, Any] | None:
    """The recorded summary of the last build when it was built from `inputs` and its tables
    are still the files it wrote; else None (rebuild)."""
    record = read_json_object(record_path(config))  # none yet, or unreadable: rebuild
    if record.get("inputs") != inputs:
        return None
    if record.get("tables") != tables_signature(built_tables(config)):
        return None
    summary = record.get("summary")
    return summary if isinstance(summary, dict) else None


def record_build(config: GamelineConfig, inputs: str, summary: dict[str, Any]) -> None:
    """Record a finished build: its inputs' fingerprint, the tables it wrote, its summary."""
    tables = tables_signature(built_tables(config))
    write_json({"inputs": inputs, "tables": tables, "summary": summary}, record_path(config))
