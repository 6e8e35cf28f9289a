"""`gameline add-source`: onboard a separate feature file onto an existing config. Its kind and
keys are guessed from its column names, its features are its other numeric columns (with their
range as bounds), and its rows are matched against the stored games before anything is written;
the result is a config that `extends:` the existing one with the source added."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gameline.tasks.config import FeatureSourceConfig, GamelineConfig, state_paths
from gameline.tasks.contracts import ContractError
from gameline.tasks.data.sources import read_text_table
from gameline.tasks.onboard.config_file import feature_name
from gameline.tasks.onboard.reader import numeric_columns
from gameline.tasks.storage import write_text

# A key's usual column names (lower case, without spaces or punctuation).
KEY_NAMES: dict[str, tuple[str, ...]] = {
    "game_id": ("gameid", "id", "game"),
    "date": ("date", "gamedate", "day", "gameday"),
    "home_team": ("home", "hometeam", "hteam", "homeabbr"),
    "away_team": ("away", "awayteam", "visitor", "vteam", "road", "awayabbr"),
    "team": ("team", "club", "teamcode", "teamabbr", "abbr", "franchise"),
    "game_number": ("gamenumber", "gamenum", "doubleheader"),
    "known_at": (
        "knownat", "reportedat", "reported", "asof", "updatedat", "updated", "timestamp",
        "publishedat", "published", "time",
    ),
}  # fmt: skip


@dataclass
class FeatureFileGuess:
    """What `add-source` guessed of a feature file, and how well its rows match the games."""

    path: Path
    source: FeatureSourceConfig
    rows: int
    matched: int
    notes: list[str] = field(default_factory=list)


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def guess_keys(columns: list[str]) -> dict[str, str]:
    """The file's column for each key it seems to have."""
    by_plain = {_plain(c): c for c in columns}
    found = {}
    for key, names in KEY_NAMES.items():
        for name in names:
            if name in by_plain:
                found[key] = by_plain[name]
                break
    return found


def guess_kind(keys: dict[str, str]) -> str:
    """game facts (a game's id, or its date and teams), a team timeline (a team and a time),
    or team game stats (a team and its game's date or id)."""
    if "team" not in keys and (
        "game_id" in keys or {"date", "home_team", "away_team"} <= set(keys)
    ):
        return "game_facts"
    if "team" in keys and "known_at" in keys:
        return "team_timeline"
    if "team" in keys and ("date" in keys or "game_id" in keys):
        return "team_game_stats"
    raise ContractError(
        f"cannot tell whose facts these are from the columns {sorted(keys.values()) or 'given'}: "
        "a game facts file has game_id (or date, home and away), a team timeline has team and "
        "known_at, team game stats have team and date (or game_id)"
    )


def taken_names(config: GamelineConfig) -> set[str]:
    """Feature names a new source may not use: the built-in ones and the config's sources'."""
    from gameline.tasks.features.team import feature_columns, state_columns

    cfg = config.features
    names = set(feature_columns(cfg)) | set(state_columns(cfg))
    return names | {f for s in cfg.sources for f in [*s.features, *s.feature_names(cfg.windows)]}


def guess_feature_file(path: Path, config: GamelineConfig, name: str | None) -> FeatureFileGuess:
    """Guess a feature file's source, then match its rows against the stored games."""
    from gameline.tasks.data.ingest import read_store
    from gameline.tasks.data.source_rows import read_source, source_frame

    raw = read_text_table(path, [])
    columns = [c for c in raw.columns if c != "source_line"]
    keys = guess_keys(columns)
    kind = guess_kind(keys)
    wanted = {
        "game_facts": ("game_id", "date", "home_team", "away_team", "game_number", "known_at"),
        "team_timeline": ("team", "known_at"),
        "team_game_stats": ("game_id", "date", "team", "game_number"),
    }[kind]
    if kind == "game_facts" and "game_id" in keys:
        wanted = ("game_id", "known_at")
    keys = {k: v for k, v in keys.items() if k in wanted}
    numbers = numeric_columns(raw, [c for c in columns if c not in keys.values()])
    if not numbers:
        raise ContractError(f"{path}: no numeric column besides its keys {list(keys.values())}")
    features: dict[str, Any] = {}
    source_name = name or feature_name(path.stem)[:32]
    taken = taken_names(config)
    for column, (low, high) in numbers.items():
        spec: dict[str, Any] = {"min": low, "max": high}
        if column != feature_name(column):
            spec["column"] = column
        if {low, high} <= {0.0, 1.0}:
            spec = {k: v for k, v in spec.items() if k == "column"} | {"type": "flag"}
        feature = feature_name(column)
        if feature in taken:  # another source's, or a built-in feature's name
            feature = f"{source_name}_{feature}"
            spec["column"] = column
        features[feature] = spec
    notes = [f"{key:<12} <- {column}" for key, column in keys.items()]
    fields: dict[str, Any] = {
        "name": source_name,
        "kind": kind,
        "path": str(path.resolve()),
        "columns": keys,
        "features": features,
    }
    if kind == "game_facts" and "known_at" not in keys:
        fields["known_before_start"] = True
        notes.append(
            "CHECK: no known_at column: the facts are taken as known before each game started "
            "(known_before_start: true); delete it if they were not"
        )
    if kind == "team_game_stats":
        notes.append(
            "read as box scores (team game stats): only rolling means of games that ended "
            "before a start become features"
        )
    source = FeatureSourceConfig.model_validate(fields)
    games = read_store(state_paths(config).raw_games)
    if games.empty:
        raise ContractError(
            f"the game store of {config.name} ({state_paths(config).raw_games}) is empty: ingest "
            "the games first, so the file's rows can be matched"
        )
    frame = source_frame(read_source(config, source), source, config, games)
    matched = (
        int(frame["matched"].sum()) if "matched" in frame else int(frame["team"].notna().sum())
    )
    return FeatureFileGuess(path=path, source=source, rows=len(frame), matched=matched, notes=notes)


def feature_config_text(
    guess: FeatureFileGuess, config: GamelineConfig, base: Path, out: Path
) -> str:
    """A config that extends `base` (the existing config) with the guessed source added to the
    sources it already has (the same name and state folder: the same pipeline)."""
    sources = [s.model_dump(mode="json", exclude_defaults=True) for s in config.features.sources]
    sources.append(guess.source.model_dump(mode="json", exclude_defaults=True))
    relative = os.path.relpath(base.resolve(), out.resolve().parent)
    header = [
        f"# Written by `gameline add-source` from {guess.path.name} on "
        f"{datetime.now(UTC):%Y-%m-%d}: {guess.rows} rows, {guess.matched} matched to stored "
        "games or teams.",
        "# Check the bounds and the kind; enable only facts known before a game starts.",
        f"extends: {relative}",
    ]
    body = yaml.safe_dump({"features": {"sources": sources}}, sort_keys=False, width=100)
    return "\n".join([*header, body])


def add_feature_file(
    path: Path,
    config: GamelineConfig,
    config_path: Path,
    name: str | None,
    out: Path | None,
    force: bool,
) -> tuple[FeatureFileGuess, Path]:
    """Guess a feature file's source and write the config extending `config_path` with it
    (`out`, default `<config>-<source>.yaml` beside it; never over a file without `force`)."""
    guess = guess_feature_file(path, config, name)
    target = out or config_path.with_name(f"{config_path.stem}-{guess.source.name}.yaml")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists: --force to overwrite, or --out another file")
    write_text(feature_config_text(guess, config, config_path, target), target)
    return guess, target
