"""Game sources: the simulator, a generic contract file, and adapters for real league files.

Every reader returns a frame in the Game contract plus `source_line` (the line of the source
file, header = line 1) and `parse_error` (what could not be parsed in that row, else null), so a
bad row can be named precisely by the validation stage instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gameline.tasks.config import GamelineConfig, LeagueConfig, SourceConfig
from gameline.tasks.contracts import (
    PARSE_ERROR,
    REQUIRED_COLUMNS,
    SOURCE_LINE,
    ContractError,
    conform,
    local_dates,
    local_start_times,
    neutral_by_period,
)
from gameline.tasks.data.lines import home_spread, spread_check
from gameline.tasks.data.simulator import resolve_as_of, simulate_games

# Numeric contract columns a generic file may carry.
NUMBER_COLUMNS = (
    "home_score",
    "away_score",
    "home_ml",
    "away_ml",
    "home_ml_open",
    "away_ml_open",
    "home_spread",
    "total_line",
    "home_spread_open",
    "total_line_open",
    "ref_p_home",
    "game_number",
)
TRUE_WORDS = {"1", "true", "t", "yes", "y"}
FALSE_WORDS = {"0", "false", "f", "no", "n", ""}


def read_text_table(
    path: Path, required: list[str], columns: dict[str, str] | None = None
) -> pd.DataFrame:
    """Read a CSV or parquet file as strings; fail clearly when it or a column is missing.
    `columns`: the file's column name for a contract column (renamed on reading)."""
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    kind = "parquet" if path.suffix.lower() == ".parquet" else "CSV"
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path).astype("string[pyarrow]")
        else:
            frame = pd.read_csv(path, dtype="string[pyarrow]", keep_default_na=False, na_values=[])
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from exc
    except (ValueError, OSError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.replace("Parquet input source '<Buffer>'", "the file")  # pyarrow's name
        raise ContractError(f"{path}: cannot be read as a {kind} table: {reason}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    file_columns = list(frame.columns)
    if columns:
        frame = frame.rename(columns={file: contract for contract, file in columns.items()})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        named = [f"{c} (as {columns[c]!r})" if columns and c in columns else c for c in missing]
        raise ContractError(f"{path}: missing required column(s) {named}; has {file_columns}")
    if frame.empty:
        raise ContractError(f"{path}: no rows after the header: nothing to ingest")
    frame = frame.apply(lambda col: col.str.strip())
    frame[SOURCE_LINE] = np.arange(2, len(frame) + 2)
    return frame


# An error message: one text for every failing row, or built for the failing rows only (`said`).
Message = str | Callable[[np.ndarray], pd.Series]


def said(before: str, values: pd.Series, after: str) -> Callable[[np.ndarray], pd.Series]:
    """The message `before` + a row's value + `after`, built only for the rows that fail (a
    file of a million good rows builds none)."""
    return lambda rows: before + values[rows].fillna("").astype("string") + after


def _note(errors: pd.Series, bad: pd.Series | np.ndarray, message: Message) -> pd.Series:
    """Append `message` to the error text of rows where `bad` is true."""
    rows = np.asarray(pd.Series(bad).fillna(False), dtype=bool)
    if not rows.any():
        return errors
    text = pd.Series(
        message(rows) if callable(message) else message, index=errors.index[rows], dtype="string"
    )
    out = errors.copy()
    out[rows] = errors[rows].str.cat(text, sep="; ").fillna(text)
    return out


def parse_numbers(raw: pd.Series, name: str, errors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from strings; a non-empty value that is not a number is recorded in `errors`."""
    values = pd.to_numeric(raw.replace("", None), errors="coerce").astype("Float64")
    bad = raw.fillna("").ne("") & values.isna()
    return values, _note(errors, bad, said(f"{name}=", raw, " is not a number"))


def parse_flags(raw: pd.Series, name: str, errors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Booleans from 1/0/true/false/yes/no (empty is false); anything else is recorded."""
    low = raw.fillna("").str.lower()
    values = low.isin(TRUE_WORDS).astype("boolean")
    bad = ~(low.isin(TRUE_WORDS) | low.isin(FALSE_WORDS))
    return values, _note(errors, bad, said(f"{name}=", raw, " is not true/false"))


HOME_WON_WORDS = TRUE_WORDS | {"home", "h", "w", "win", "won"}
AWAY_WON_WORDS = (FALSE_WORDS - {""}) | {"away", "a", "visitor", "v", "road", "l", "loss", "lost"}


def parse_winner(raw: pd.DataFrame, errors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Who won, where a file says so without scores: `home_won` (1/0, true/false, home/away,
    W/L from the home side) or `winner` (the winning team's code, or home/away). Empty is
    unknown (a game not played yet); anything else is recorded."""
    column = "home_won" if "home_won" in raw else "winner"
    text = raw[column].fillna("").str.strip()
    low = text.str.lower()
    won = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    won[low.isin(HOME_WON_WORDS)] = True
    won[low.isin(AWAY_WON_WORDS)] = False
    if column == "winner":
        won[text.eq(raw["home_team"]).fillna(False)] = True
        won[text.eq(raw["away_team"]).fillna(False)] = False
    bad = won.isna() & text.ne("")
    told = (
        "home_won is 1/0, true/false or home/away"
        if column == "home_won"
        else "winner is the home or the away team"
    )
    return won, _note(errors, bad, said(f"{column}=", text, f" is not a result ({told})"))


def parse_dates(
    raw: pd.Series, fmt: str, name: str, errors: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Calendar dates in a fixed format; an unparsable value is recorded."""
    values = pd.to_datetime(raw, format=fmt, errors="coerce")
    bad = values.isna()
    return values, _note(errors, bad, said(f"{name}=", raw, f" is not a date ({fmt})"))


def no_errors(frame: pd.DataFrame) -> pd.Series:
    """An all-null error column for a frame."""
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def read_contract_file(
    path: Path, league: LeagueConfig, layout: SourceConfig | None = None
) -> pd.DataFrame:
    """A generic file in the Game contract (CSV or parquet, any league), or in its own layout:
    `layout.columns` names the file's columns, `layout.values` maps its values (status, neutral
    flags), `layout.date_format` reads a non-ISO start_time (local time; the league's default
    start when it has no clock).

    `start_time` is otherwise an ISO date (local, default start time added) or datetime (UTC
    unless it carries an offset). Optional: scores, status, neutral, playoff, closing and
    opening odds, game_id, game_number, and season (derived from the local date and the
    league's season window when the file has none).
    """
    layout = layout or SourceConfig(kind="csv", path=path)
    required = [c for c in REQUIRED_COLUMNS if c != "season"]
    raw = read_text_table(path, required, layout.columns)
    for column, mapping in layout.values.items():
        if column in raw:
            raw[column] = raw[column].replace(mapping)
    if layout.date_format:
        raw["start_time"] = formatted_start_times(raw["start_time"], layout.date_format, league)
    errors = no_errors(raw)
    out = pd.DataFrame({"home_team": raw["home_team"], "away_team": raw["away_team"]})
    if "season" in raw:
        out["season"], errors = parse_numbers(raw["season"], "season", errors)
    for col in NUMBER_COLUMNS:
        if col in raw:
            out[col], errors = parse_numbers(raw[col], col, errors)
    for col in ("neutral", "playoff"):
        if col in raw:
            out[col], errors = parse_flags(raw[col], col, errors)
    if "home_won" in raw or "winner" in raw:
        out["home_won"], errors = parse_winner(raw, errors)
    for col in ("game_id", "status"):
        if col in raw:
            out[col] = raw[col].replace("", None)
    favourite = raw["favourite"].replace("", None) if "favourite" in raw else None
    convention = layout.spread_convention
    for col in ("home_spread", "home_spread_open"):
        if col in out:
            prices = (out.get("home_ml"), out.get("away_ml"))
            out[col] = home_spread(out[col], convention, favourite, *prices)
    date_only = raw["start_time"].str.len() == 10
    stamped = pd.to_datetime(
        raw["start_time"].where(~date_only), utc=True, errors="coerce", format="ISO8601"
    )
    dated, errors_dates = parse_dates(
        raw["start_time"].where(date_only), "%Y-%m-%d", "start_time", errors
    )
    out["start_time"] = stamped.where(~date_only, local_start_times(dated, league))
    errors = errors.where(~date_only, errors_dates)
    errors = _note(
        errors,
        ~date_only & stamped.isna(),
        said("start_time=", raw["start_time"], " is not an ISO date/time"),
    )
    if "season" not in raw:
        out["season"] = season_of_dates(local_dates(out["start_time"], league), league)
    if "home_spread" in out and "home_score" in out and "away_score" in out:
        check_spread_sign(path, out, convention)
    out[SOURCE_LINE], out[PARSE_ERROR] = raw[SOURCE_LINE], errors
    return conform(out, league, source=f"csv:{path.name}")


def check_spread_sign(path: Path, games: pd.DataFrame, convention: str) -> None:
    """Refuse a file whose spreads, read with `convention`, contradict its results."""
    check = spread_check(games["home_spread"], games["home_score"], games["away_score"])
    if check.reversed:
        other = "away" if convention == "home" else "home"
        raise ContractError(
            f"{path}: home_spread read as the {convention} side's line says the opposite of the "
            f"results: its favourite won {check.favourite_won:.0%} of {check.games} games "
            f"(about 65% is normal); set source.spread_convention: {other} (or favourite)"
        )


def season_of_dates(day: pd.Series, league: LeagueConfig) -> pd.Series:
    """The season label of local dates: the season whose window (league.season_window) starts
    on or before the date, named by the year it starts or ends in (its label offsets)."""
    window = league.season_window
    month_day = day.dt.month * 100 + day.dt.day  # 'MM-DD' as MMDD (strftime: 3 us a date)
    month, day_of_month = window.start.split("-")
    crosses_year = window.end_year_offset > window.start_year_offset
    before_start = (month_day < int(month) * 100 + int(day_of_month)).fillna(False)
    start_year = day.dt.year - (before_start & crosses_year).astype("int64")
    return (start_year - window.start_year_offset).astype("Int64")


def formatted_start_times(raw: pd.Series, fmt: str, league: LeagueConfig) -> pd.Series:
    """Start times in a file's own format as ISO UTC text (what the contract reader takes);
    an unparsable value is kept as it is, so the reader reports it."""
    parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
    if any(code in fmt for code in ("%H", "%I")):
        local = parsed.dt.tz_localize(league.timezone, ambiguous="NaT", nonexistent="shift_forward")
        utc = local.dt.tz_convert("UTC")
    else:
        utc = local_start_times(parsed, league)
    text = utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype("string")
    return text.where(parsed.notna(), raw)


def read_nba_odds(path: Path, league: LeagueConfig) -> pd.DataFrame:
    """The NBA results-and-odds file (season = year the season ends, local dates, moneylines;
    the closing spread, the favourite's and signed by `whos_favored`, and the total)."""
    raw = read_text_table(
        path,
        [
            "season",
            "date",
            "home",
            "away",
            "score_home",
            "score_away",
            "playoffs",
            "moneyline_home",
            "moneyline_away",
        ],
    )
    errors = no_errors(raw)
    out = pd.DataFrame({"home_team": raw["home"], "away_team": raw["away"]})
    out["season"], errors = parse_numbers(raw["season"], "season", errors)
    out["home_score"], errors = parse_numbers(raw["score_home"], "score_home", errors)
    out["away_score"], errors = parse_numbers(raw["score_away"], "score_away", errors)
    out["home_ml"], errors = parse_numbers(raw["moneyline_home"], "moneyline_home", errors)
    out["away_ml"], errors = parse_numbers(raw["moneyline_away"], "moneyline_away", errors)
    out["playoff"], errors = parse_flags(raw["playoffs"], "playoffs", errors)
    if "spread" in raw and "whos_favored" in raw:  # the favourite's line, unsigned
        spread, errors = parse_numbers(raw["spread"], "spread", errors)
        out["home_spread"] = home_spread(spread, "favourite", raw["whos_favored"])
    if "total" in raw:
        out["total_line"], errors = parse_numbers(raw["total"], "total", errors)
    day, errors = parse_dates(raw["date"], "%Y-%m-%d", "date", errors)
    out["start_time"] = local_start_times(day, league)
    out["neutral"] = neutral_by_period(out["start_time"], league)
    out[SOURCE_LINE], out[PARSE_ERROR] = raw[SOURCE_LINE], errors
    return conform(out, league, source=f"nba_odds:{path.name}")


def read_fivethirtyeight_nfl(path: Path, league: LeagueConfig) -> pd.DataFrame:
    """FiveThirtyEight's NFL Elo file (team1 is home unless neutral; `elo_prob1` kept)."""
    raw = read_text_table(
        path,
        ["date", "season", "neutral", "playoff", "team1", "team2", "score1", "score2", "elo_prob1"],
    )
    errors = no_errors(raw)
    out = pd.DataFrame({"home_team": raw["team1"], "away_team": raw["team2"]})
    out["season"], errors = parse_numbers(raw["season"], "season", errors)
    out["home_score"], errors = parse_numbers(raw["score1"], "score1", errors)
    out["away_score"], errors = parse_numbers(raw["score2"], "score2", errors)
    out["ref_p_home"], errors = parse_numbers(raw["elo_prob1"], "elo_prob1", errors)
    out["neutral"], errors = parse_flags(raw["neutral"], "neutral", errors)
    out["playoff"] = raw["playoff"].fillna("").ne("").astype("boolean")
    day, errors = parse_dates(raw["date"], "%Y/%m/%d", "date", errors)
    out["start_time"] = local_start_times(day, league)
    out[SOURCE_LINE], out[PARSE_ERROR] = raw[SOURCE_LINE], errors
    return conform(out, league, source=f"fivethirtyeight_nfl:{path.name}")


FILE_READERS = {
    "csv": read_contract_file,
    "nba_odds": read_nba_odds,
    "fivethirtyeight_nfl": read_fivethirtyeight_nfl,
}


def league_now(config: GamelineConfig) -> datetime:
    """The league's "now": the simulator's clock for the simulated league (so what it has
    played and what predict scores agree), else the wall clock."""
    if config.source.kind == "simulator":
        return resolve_as_of(config.source.simulator)
    return datetime.now(UTC)


def load_games(config: GamelineConfig, file: Path | None = None) -> pd.DataFrame:
    """Games from the configured source; `file` reads that file with the configured reader
    (the generic contract reader when the configured source is the simulator)."""
    kind = config.source.kind
    if kind == "simulator" and file is None:
        return simulate_games(config.source.simulator, config.league)
    path = config.source_path(file)
    assert path is not None  # guaranteed by SourceConfig for file kinds
    if kind in ("csv", "simulator"):
        return read_contract_file(path, config.league, config.source if kind == "csv" else None)
    return FILE_READERS[kind](path, config.league)
