"""The user's feature sources, point in time: each source's stored facts become a table that a
Feast view reads, stamped so that Feast's point-in-time join (a feature row's time at or before
the game's start) gives a game only what was known before it started.

- game facts: one row per fact, keyed by `game_id`, stamped with `known_at` (the game's start
  where the source says its facts were known before it): a game sees its latest fact known by
  its start.
- team timelines: keyed by `team`, stamped with `known_at`: a game sees each team's latest value
  known by its start, and how old it is (`<source>_age_days`).
- team game stats: a team's box score of a game is never a feature of that game; it becomes
  rolling means over the team's last `windows` finished games, stamped with that game's end
  (the same way a team's form is built), so a game sees the aggregates of games that ended
  before it started.

In the model's frame a game fact `f` is the column `game__f` and a team feature `f` the columns
`home__f` and `away__f`; in a model's feature list they are `game__f` and `team__f` (bare names
are the built-in team features), so a recipe says which kind each input is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gameline.tasks.config import (
    FeaturesConfig,
    FeatureSourceConfig,
    GamelineConfig,
    LeagueConfig,
    state_paths,
)
from gameline.tasks.data.feature_sources import read_facts
from gameline.tasks.data.source_rows import KNOWN_AT
from gameline.tasks.storage import write_parquet

GAME = "game__"
TEAM = "team__"
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class SourceView:
    """What Feast needs of one source: its view's name, entity join key, table and columns."""

    name: str
    kind: str
    join_key: str  # "team" or "game_id"
    path: Path
    columns: list[str]  # the table's value columns (features, and `<name>_known_at` for timelines)
    features: list[str]  # the model-facing feature names (bare)


def known_at_column(source: FeatureSourceConfig) -> str:
    """A timeline's column holding when each value became known (seconds since the epoch)."""
    return f"{source.name}_known_at"


def table_columns(source: FeatureSourceConfig, cfg: FeaturesConfig) -> list[str]:
    """The value columns of a source's point-in-time table."""
    if source.kind == "team_timeline":
        return [*source.features, known_at_column(source)]
    return source.feature_names(cfg.windows)


def source_views(config: GamelineConfig) -> list[SourceView]:
    """Every declared source's view."""
    paths = state_paths(config)
    return [
        SourceView(
            name=s.name,
            kind=s.kind,
            join_key="game_id" if s.kind == "game_facts" else "team",
            path=paths.source_table(s.name).resolve(),
            columns=table_columns(s, config.features),
            features=s.feature_names(config.features.windows),
        )
        for s in config.features.sources
    ]


def source_features(cfg: FeaturesConfig) -> list[str]:
    """The model's names of every source's features: `game__f` for game facts, `team__f` for
    team timelines and team game stats."""
    from gameline.tasks.features.team import feature_columns, state_columns

    builtin = set(feature_columns(cfg)) | set(state_columns(cfg))
    names = []
    for source in cfg.sources:
        for feature in source.feature_names(cfg.windows):
            if feature in builtin:
                raise ValueError(
                    f"feature {feature!r} of source {source.name!r} is a built-in feature's "
                    "name: rename it"
                )
            names.append((GAME if source.kind == "game_facts" else TEAM) + feature)
    return names


def frame_columns(feature: str) -> list[str]:
    """A model feature's columns in a game's frame: `game__f`, or the home and away sides."""
    if feature.startswith(GAME):
        return [feature]
    name = feature.removeprefix(TEAM)
    return [f"home__{name}", f"away__{name}"]


def epoch_seconds(times: pd.Series) -> np.ndarray:
    """UTC times as float seconds since the epoch (NaN for NaT)."""
    stamps = pd.DatetimeIndex(times).tz_convert("UTC")
    seconds = stamps.as_unit("us").asi8.astype("float64") / 1e6
    seconds[stamps.isna()] = np.nan
    return seconds


def game_facts_table(facts: pd.DataFrame, source: FeatureSourceConfig) -> pd.DataFrame:
    """Game facts keyed by game_id, stamped with when each became known."""
    out = pd.DataFrame(
        {
            "game_id": facts["game_id"].astype(str).to_numpy(),
            "event_timestamp": facts[KNOWN_AT].astype("datetime64[us, UTC]").array,
        }
    )
    for name in source.features:
        out[name] = facts[name].to_numpy(dtype="float64")
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def timeline_table(facts: pd.DataFrame, source: FeatureSourceConfig) -> pd.DataFrame:
    """A team timeline keyed by team, stamped with when each value became known (also kept as a
    value, for the age of what a game sees)."""
    out = pd.DataFrame(
        {
            "team": facts["team"].astype(str).to_numpy(),
            "event_timestamp": facts[KNOWN_AT].astype("datetime64[us, UTC]").array,
        }
    )
    for name in source.features:
        out[name] = facts[name].to_numpy(dtype="float64")
    out[known_at_column(source)] = epoch_seconds(facts[KNOWN_AT])
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def rolling_stats_table(
    facts: pd.DataFrame,
    source: FeatureSourceConfig,
    games: pd.DataFrame,
    cfg: FeaturesConfig,
    league: LeagueConfig,
) -> pd.DataFrame:
    """Each team's rolling means of its box-score stats over its last `windows` finished games
    (missing stats skipped), stamped with the end of the latest of them."""
    # Each fact's game by position (one hash of the store's ids, none without facts: a
    # million-game store's index and lookups cost about 0.8 s).
    at = np.empty(0, dtype=np.intp)
    if len(facts):
        at = pd.Index(games["game_id"]).get_indexer(facts["game_id"])
    final = games["status"].eq("final").to_numpy(dtype=bool, na_value=False)
    kept = at >= 0
    kept[kept] = final[at[kept]]
    rows = facts[kept].copy()
    ends = games["start_time"].array.take(at[kept])
    rows["event_timestamp"] = ends + pd.Timedelta(hours=league.game_duration_hours)
    rows = rows.sort_values(["team", "event_timestamp", "game_id"], kind="stable")
    out = pd.DataFrame(
        {
            "team": rows["team"].astype(str).to_numpy(),
            "event_timestamp": pd.to_datetime(rows["event_timestamp"], utc=True).array,
        }
    )
    team = rows["team"].to_numpy()
    for name in source.features:
        values = rows[name].astype("float64")
        for window in source.windows or cfg.windows:
            grouped = values.groupby(team, sort=False)
            mean = grouped.rolling(window, min_periods=1).mean().reset_index(level=0, drop=True)
            out[f"{name}_{window}"] = mean.reindex(rows.index).to_numpy()
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def source_table(
    source: FeatureSourceConfig, facts: pd.DataFrame, games: pd.DataFrame, config: GamelineConfig
) -> pd.DataFrame:
    """A source's point-in-time table (what its Feast view reads)."""
    if source.kind == "game_facts":
        return game_facts_table(facts, source)
    if source.kind == "team_timeline":
        return timeline_table(facts, source)
    return rolling_stats_table(facts, source, games, config.features, config.league)


def write_source_tables(config: GamelineConfig, games: pd.DataFrame) -> dict[str, int]:
    """Write every source's point-in-time table from its stored facts; rows per source."""
    paths = state_paths(config)
    written = {}
    for source in config.features.sources:
        facts = read_facts(paths.source_facts(source.name), source)
        table = source_table(source, facts, games, config)
        write_parquet(table, paths.source_table(source.name))
        written[source.name] = len(table)
    return written


def add_source_features(
    out: dict[str, object], joined: pd.DataFrame, cfg: FeaturesConfig
) -> dict[str, object]:
    """The sources' model columns of games from their joined view columns (home__f, away__f,
    game__f), with each timeline's age in days at the game's start; the same code for training
    rows and served ones."""
    starts = epoch_seconds(joined["event_timestamp"])
    for source in cfg.sources:
        if source.kind == "game_facts":
            for name in source.features:
                out[GAME + name] = joined[GAME + name].to_numpy(dtype="float64")
            continue
        for side in ("home", "away"):
            for name in table_columns(source, cfg):
                if name == known_at_column(source):
                    known = joined[f"{side}__{name}"].to_numpy(dtype="float64")
                    out[f"{side}__{source.name}_age_days"] = (starts - known) / SECONDS_PER_DAY
                else:
                    out[f"{side}__{name}"] = joined[f"{side}__{name}"].to_numpy(dtype="float64")
    return out
