"""Reading the user's feature sources: a source's rows (from its own file, the results file's
columns, or the simulator), each feature typed by its contract (numbers, flags, categories,
moneylines, a sign flipped by another column), `known_at` parsed, and every row matched to its
stored game (by id, or by local date + teams + game number) or team, with the columns the
ingest's rules check (`feature_sources`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gameline.tasks.config import FeatureSourceConfig, GamelineConfig
from gameline.tasks.contracts import (
    PARSE_ERROR,
    SOURCE_LINE,
    ContractError,
    local_dates,
    make_game_ids,
)
from gameline.tasks.data.expectations import ROW
from gameline.tasks.data.sources import _note, no_errors, read_text_table, said

KNOWN_AT = "known_at"
# Each kind's stored key: a fact is one row per key; the same key again is a repeat.
STORED_KEYS = {
    "game_facts": ("game_id", KNOWN_AT),
    "team_timeline": ("team", KNOWN_AT),
    "team_game_stats": ("game_id", "team"),
}


def source_label(config: GamelineConfig, source: FeatureSourceConfig) -> str:
    """How messages name a source: its file, or where its rows come from."""
    path = config.feature_source_path(source)
    if path is not None:
        return f"{source.name} ({path})"
    if config.source.kind == "simulator":
        return f"{source.name} (the simulator's {source.name!r} table)"
    return f"{source.name} (columns of {config.source_path()})"


def read_source(
    config: GamelineConfig, source: FeatureSourceConfig, games_file: Path | None = None
) -> pd.DataFrame:
    """A source's rows as strings with `source_line`, its keys renamed to their contract names
    (`game_id`, `date`, `home_team`, `away_team`, `game_number`, `team`, `known_at`) and its
    features to their names. The results file's columns come with each row's `game_id`."""
    renames = {source.key(k): k for k in source.columns} | {
        (spec.column or name): name for name, spec in source.features.items()
    }
    # Columns a feature reads besides its own (negate_when), kept under their own names.
    renames |= {c: c for spec in source.features.values() for c in (spec.negate_when or {})}
    path = config.feature_source_path(source)
    if path is not None:
        raw = read_text_table(path, [], None)
        missing = [c for c in renames if c not in raw.columns]
        if missing:
            raise ContractError(
                f"{path}: missing column(s) {missing} of feature source {source.name!r}; "
                f"has {[c for c in raw.columns if c != SOURCE_LINE]}"
            )
        return raw.rename(columns=renames)
    if config.source.kind == "simulator":
        from gameline.tasks.data.simulator import simulate_sources

        tables = simulate_sources(config.source.simulator, config.league)
        if source.name not in tables:
            raise ContractError(
                f"feature source {source.name!r} has no path, and the simulator has no table of "
                f"that name (it emits {sorted(tables)})"
            )
        table = tables[source.name].astype("string")
        table[SOURCE_LINE] = np.arange(2, len(table) + 2)
        return table.rename(columns=renames)
    if source.kind != "game_facts":
        raise ContractError(
            f"feature source {source.name!r} ({source.kind}) needs a path: only game facts can "
            "be columns of the results file"
        )
    return results_file_columns(config, source, games_file, renames)


def results_file_columns(
    config: GamelineConfig,
    source: FeatureSourceConfig,
    games_file: Path | None,
    renames: dict[str, str],
) -> pd.DataFrame:
    """A game-facts source made of the results file's own columns, each row with the game_id
    the games reader gave it."""
    from gameline.tasks.data.sources import load_games

    path = config.source_path(games_file)
    assert path is not None  # a file source
    raw = read_text_table(path, [], None)
    missing = [c for c in renames if c not in raw.columns]
    if missing:
        raise ContractError(
            f"{path}: missing column(s) {missing} of feature source {source.name!r}"
        )
    games = load_games(config, games_file)
    ids = games.set_index(SOURCE_LINE)["game_id"]
    out = raw[[*renames, SOURCE_LINE]].rename(columns=renames)
    out["game_id"] = ids.reindex(out[SOURCE_LINE]).to_numpy()
    return out


def parse_features(raw: pd.DataFrame, source: FeatureSourceConfig) -> pd.DataFrame:
    """Each feature typed as float64 (flags 0/1, categories their position in `categories`);
    what does not parse is recorded in `parse_error`."""
    errors = raw[PARSE_ERROR] if PARSE_ERROR in raw else no_errors(raw)
    out = pd.DataFrame(index=raw.index)
    for name, spec in source.features.items():
        text = raw[name].astype("string").fillna("").str.strip()
        empty = text.isin(["", "NA", "NaN", "nan", "null", "None"])
        if spec.type == "category":
            codes = {value: i for i, value in enumerate(spec.categories or [])}
            values = text.map(codes).astype("float64")
            bad = ~empty & values.isna()
            message = said(f"{name}=", text, f" is not one of {spec.categories}")
        elif spec.type == "flag":
            low = text.str.lower()
            number = pd.to_numeric(low, errors="coerce")
            values = pd.Series(np.nan, index=raw.index)
            values[low.isin(["true", "t", "yes", "y"]) | (number == 1)] = 1.0
            values[low.isin(["false", "f", "no", "n"]) | (number == 0)] = 0.0
            bad = ~empty & values.isna()
            message = said(f"{name}=", text, " is not true/false")
        elif spec.type == "moneyline":
            odds = pd.to_numeric(text.mask(empty), errors="coerce").astype("float64")
            bad = ~empty & ~(odds.abs() >= 100)
            values = moneyline_logit(odds.where(~bad))
            message = said(f"{name}=", text, " is not American odds (+/-100 or more)")
        else:
            values = pd.to_numeric(text.mask(empty), errors="coerce").astype("float64")
            bad = ~empty & values.isna()
            message = said(f"{name}=", text, " is not a number")
        if spec.negate_when:
            ((column, value),) = spec.negate_when.items()
            flip = raw[column].astype("string").str.strip().eq(value).fillna(False)
            values = values.where(~flip.to_numpy(), -values)
        out[name] = values.to_numpy(dtype="float64")
        errors = _note(errors, bad, message)
    out[PARSE_ERROR] = errors
    return out


def moneyline_logit(odds: pd.Series) -> pd.Series:
    """American odds as the logit of the implied probability (overround included)."""
    implied = np.where(odds > 0, 100 / (odds + 100), -odds / (-odds + 100))
    return pd.Series(np.log(implied / (1 - implied)), index=odds.index, dtype="float64")


def parse_known_at(raw: pd.DataFrame, errors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`known_at` as UTC times (a time without a zone is read as UTC)."""
    text = raw[KNOWN_AT].astype("string").fillna("").str.strip()
    values = pd.to_datetime(text.mask(text == ""), utc=True, errors="coerce", format="mixed")
    bad = (text != "") & values.isna()
    return values.astype("datetime64[us, UTC]"), _note(
        errors, bad, said("known_at=", text, " is not a time")
    )


def match_games(
    raw: pd.DataFrame, source: FeatureSourceConfig, config: GamelineConfig, games: pd.DataFrame
) -> pd.Series:
    """Each row's game_id: given, or built from the local date, the teams and the game number
    (where the league has doubleheaders and the file no number, by file order among rows of the
    same date and teams), the way game ids are built, so a fact finds its game without a join
    on times."""
    if "game_id" in raw:
        return raw["game_id"].astype("string")
    day = pd.to_datetime(raw["date"], format=source.date_format, errors="coerce")
    if source.kind == "team_game_stats":
        return team_game_ids(raw, day, config, games)
    if "game_number" in raw:
        number = pd.to_numeric(raw["game_number"], errors="coerce").astype("Int64")
    elif config.league.allow_doubleheaders:  # games 1 and 2 of a day, in the file's order
        number = raw.groupby([day, raw["home_team"], raw["away_team"]], dropna=False).cumcount() + 1
    else:
        number = pd.Series(1, index=raw.index)
    league = pd.Series(config.league.name, index=raw.index)
    return make_game_ids(league, day, raw["home_team"], raw["away_team"], number.astype("Int64"))


def team_game_ids(
    raw: pd.DataFrame, day: pd.Series, config: GamelineConfig, games: pd.DataFrame
) -> pd.Series:
    """For box-score rows keyed by team and local date: the team's game that day (its n-th by
    start with `game_number`)."""
    sides = []
    dates = local_dates(games["start_time"], config.league)
    for side in ("home_team", "away_team"):
        sides.append(
            pd.DataFrame(
                {"team": games[side].astype(str), "date": dates, "game_id": games["game_id"]}
            ).assign(start=games["start_time"])
        )
    played = pd.concat(sides).sort_values("start", kind="stable")
    played["n"] = played.groupby(["team", "date"]).cumcount() + 1
    number = (
        pd.to_numeric(raw["game_number"], errors="coerce").fillna(1).astype(int)
        if "game_number" in raw
        else pd.Series(1, index=raw.index)
    )
    keys = pd.MultiIndex.from_arrays([raw["team"].astype(str), day.dt.normalize(), number])
    lookup = played.set_index(["team", "date", "n"])["game_id"]
    lookup = lookup[~lookup.index.duplicated()]
    return pd.Series(lookup.reindex(keys).to_numpy(), index=raw.index, dtype="string")


def source_frame(
    raw: pd.DataFrame, source: FeatureSourceConfig, config: GamelineConfig, games: pd.DataFrame
) -> pd.DataFrame:
    """The typed rows of a source with the columns its rules check."""
    frame = parse_features(raw, source)
    frame[SOURCE_LINE] = raw[SOURCE_LINE].to_numpy()
    frame[ROW] = np.arange(len(frame))
    errors = frame[PARSE_ERROR]
    starts = games.set_index("game_id")["start_time"]
    finals = games.set_index("game_id")["status"].eq("final")
    if source.kind in ("game_facts", "team_game_stats"):
        frame["game_id"] = match_games(raw, source, config, games).to_numpy()
        # UTC times, NaT for a row matching no game (even when none matches)
        start = pd.to_datetime(starts.reindex(frame["game_id"]).array, utc=True)
        frame["start_time"] = pd.Series(start.astype("datetime64[us, UTC]"), index=frame.index)
        frame["matched"] = frame["game_id"].isin(starts.index)
    if source.kind in ("team_timeline", "team_game_stats"):
        frame["team"] = raw["team"].astype("string").to_numpy()
    if source.kind == "team_game_stats":
        both = games.set_index("game_id")[["home_team", "away_team"]].reindex(frame["game_id"])
        team = pd.Series(frame["team"].to_numpy(), index=both.index, dtype="string")
        plays = both["home_team"].eq(team).fillna(False) | both["away_team"].eq(team).fillna(False)
        frame["matched"] &= plays.to_numpy(dtype=bool)
        frame["finished"] = finals.reindex(frame["game_id"]).fillna(False).to_numpy(dtype=bool)
    if KNOWN_AT in raw:
        frame[KNOWN_AT], errors = parse_known_at(raw, errors)
    elif source.kind == "game_facts":
        if not source.known_before_start:
            raise ContractError(
                f"feature source {source.name!r} has no known_at column: map one "
                "(columns: {known_at: ...}), or say `known_before_start: true` if every fact "
                "was known before its game started (nothing is assumed silently)"
            )
        frame[KNOWN_AT] = frame["start_time"]
    elif source.kind == "team_timeline":
        raise ContractError(
            f"feature source {source.name!r} (a team timeline) needs a known_at column: when "
            "each fact became known"
        )
    frame[PARSE_ERROR] = errors
    keys = STORED_KEYS[source.kind]
    frame["_key"] = pd.util.hash_pandas_object(frame[list(keys)], index=False).astype("int64")
    if source.kind == "game_facts":
        unknown = frame[KNOWN_AT].isna() | frame["start_time"].isna()  # other rules' rows
        frame["known_in_time"] = (frame[KNOWN_AT] <= frame["start_time"]) | unknown
    return frame


def stamped_by(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The frame with `stamped_by_now`: whether each fact's known_at is not in the future."""
    return frame.assign(stamped_by_now=(frame[KNOWN_AT] <= pd.Timestamp(now)).fillna(True))
