"""Reading a league's file as `gameline ingest` will, with guessed settings, in named steps:
map the columns, read the values, find the seasons and renamed teams, measure the scores and
the schedule, tune Elo; what was guessed and what to check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.config import LeagueConfig, SeasonWindow, SourceConfig
from gameline.tasks.contracts import SOURCE_LINE, ContractError, local_dates
from gameline.tasks.data.lines import guess_convention
from gameline.tasks.data.sources import read_contract_file, read_text_table, season_of_dates
from gameline.tasks.onboard.columns import guess_columns
from gameline.tasks.onboard.seasons import (
    Relocation,
    find_relocations,
    league_season_window,
    renames_of,
)
from gameline.tasks.onboard.sports import (
    SPORTS,
    WINNER_ONLY,
    KTuning,
    Progress,
    Sport,
    sport_of_scoring,
    ties_allowed,
    tune_k,
)
from gameline.tasks.onboard.values import guess_date_format, guess_values, season_labels


@dataclass
class LeagueFile:
    """What `init` read and measured."""

    path: Path
    rows: int
    columns: dict[str, str]
    date_format: str | None
    values: dict[str, dict[str, str]]
    sport: Sport
    league: dict[str, Any]
    relocations: list[Relocation]
    seasons: list[int]
    games_per_season: int
    league_games_per_season: int
    mean_total: float
    ties: int
    doubleheaders: int
    has_odds: bool
    has_open_odds: bool
    season_days: int
    tuning: KTuning | None = None
    guesses: list[str] = field(default_factory=list)
    # The file's numeric columns the games do not use, with their range: candidate game facts.
    unused_numbers: dict[str, tuple[float, float]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    spread_convention: str = "home"  # how the file writes its spread (SourceConfig's)

    @property
    def winner_only(self) -> bool:
        """The file says who won but gives no score."""
        return self.sport is WINNER_ONLY

    @property
    def k(self) -> float:
        """The Elo K factor: tuned where there were seasons to tune on, else the sport's."""
        return self.tuning.k if self.tuning else self.sport.k


def _require_core_columns(raw_columns: list[str], columns: dict[str, str]) -> None:
    """The teams and the date must be mapped; else one line naming what to give."""
    missing = [c for c in ("home_team", "away_team", "start_time") if c not in columns]
    if missing:
        raise ValueError(
            f"cannot tell which column is {' / '.join(missing)} (file columns: {raw_columns}); "
            "name it: --columns " + ",".join(f"{c}=<column>" for c in missing)
        )


def map_columns(
    path: Path, raw: pd.DataFrame, override: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """(the file's columns, {contract column: file column}): guessed, `--columns` winning."""
    file_columns = [c for c in raw.columns if c != SOURCE_LINE]
    unknown = [c for c in override.values() if c not in file_columns]
    if unknown:
        raise ValueError(f"--columns: {unknown} not in {path} (its columns: {file_columns})")
    guessed = guess_columns(file_columns)
    columns = {**{k: v for k, v in guessed.items() if v not in override.values()}, **override}
    _require_core_columns(file_columns, columns)
    return file_columns, columns


@dataclass
class Layout:
    """How the reader takes the file: the source settings and what was guessed for them."""

    source: SourceConfig
    date_seen: str
    timed: bool  # whether the dates carry a time of day
    notes: list[str]


def guess_layout(path: Path, raw: pd.DataFrame, columns: dict[str, str]) -> Layout:
    """The date format, the value codes and season labels of the file's columns."""
    renamed = raw.rename(columns={file: contract for contract, file in columns.items()})
    date_format, date_seen = guess_date_format(renamed["start_time"])
    values, notes = guess_values(renamed)
    if "season" in renamed and (labels := season_labels(renamed["season"])):
        values["season"] = labels
        notes.append(f"season labels like {next(iter(labels))} read as the year they start in")
    timed = (
        "%H" in date_format
        if date_format is not None
        else not (renamed["start_time"].str.len() == 10).all()
    )
    convention = "home"
    if "home_spread" in renamed:
        convention, how = spread_convention(renamed)
        notes.append(f"spread ({columns['home_spread']}): {how}")
    source = SourceConfig(
        kind="csv",
        path=path,
        columns={k: v for k, v in columns.items() if k != v},
        values=values,
        date_format=date_format,
        spread_convention=convention,  # type: ignore[arg-type]
    )
    return Layout(source=source, date_seen=date_seen, timed=timed, notes=notes)


def spread_convention(renamed: pd.DataFrame) -> tuple[str, str]:
    """The file's spread convention, told from its numbers (`guess_convention`)."""
    missing = pd.Series(np.nan, index=renamed.index, dtype="Float64")

    def number(column: str) -> pd.Series:
        if column not in renamed:
            return missing
        return pd.to_numeric(renamed[column].replace("", None), errors="coerce").astype("Float64")

    odds = ("home_ml", "away_ml")
    return guess_convention(
        number("home_spread"),
        number("home_score"),
        number("away_score"),
        renamed.get("favourite"),
        *(number(c) if c in renamed else None for c in odds),
    )


def probe_league(name: str) -> LeagueConfig:
    """A league that keeps every row the file could mean (ties, doubleheaders, any date)."""
    return LeagueConfig(
        name=name,
        allow_doubleheaders=True,
        allow_ties=True,
        season_window=SeasonWindow(start="01-01", start_year_offset=0, end="12-31"),
    )


@dataclass
class Seasons:
    """Each usable game's local day and season, the teams under their latest codes."""

    day: pd.Series
    season: pd.Series
    window: SeasonWindow
    label: str
    notes: list[str]
    relocations: list[Relocation]
    home: pd.Series
    away: pd.Series


def find_seasons(usable: pd.DataFrame, probe: LeagueConfig, has_season: bool) -> Seasons:
    """The season window and label, each game's season, and renamed teams merged."""
    day = local_dates(usable["start_time"], probe)
    window, label, notes = league_season_window(day, usable["season"] if has_season else None)
    in_window = probe.model_copy(update={"season_window": window})
    season = usable["season"] if has_season else season_of_dates(day, in_window)
    relocations = find_relocations(usable, day, season)
    rename = renames_of(relocations)
    return Seasons(
        day=day,
        season=season,
        window=window,
        label=label,
        notes=notes,
        relocations=relocations,
        home=usable["home_team"].replace(rename),
        away=usable["away_team"].replace(rename),
    )


def final_scores(path: Path, usable: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The scores of the final games (none in a file that says only who won); an error naming
    the columns to give when the file has neither."""
    final = usable["status"].eq("final") & usable["home_score"].notna()
    scores = usable.loc[final, ["home_score", "away_score"]].astype("float64")
    if not scores.empty or usable["home_won"].notna().any():
        return scores
    missing = [c for c in ("home_score", "away_score") if c not in columns]
    where = (
        "; if it has them, name the column(s): --columns "
        + ",".join(f"{c}=<column>" for c in missing)
        if missing
        else f" in {[columns['home_score'], columns['away_score']]}"
    )
    raise ValueError(
        f"{path}: no game has a final score or a winner{where} (or, for a file that says only "
        "who won: --columns winner=<column>)"
    )


@dataclass
class Schedule:
    """How much the league plays: per team and across it in a season, and over how many days."""

    seasons: list[int]
    games_per_season: int
    league_games_per_season: int
    season_days: int
    doubleheaders: int


def measure_schedule(usable: pd.DataFrame, s: Seasons) -> Schedule:
    """Games per team a season (the median team of the median season: robust to a season cut
    short or under way), league games a season, season length, doubleheaders."""
    per_team = pd.concat(
        [
            pd.DataFrame({"season": s.season, "team": s.home}),
            pd.DataFrame({"season": s.season, "team": s.away}),
        ]
    )
    regular = ~usable["playoff"].astype(bool)
    counts = per_team[np.concatenate([regular, regular])].groupby(["season", "team"]).size()
    spans = s.day.groupby(s.season.to_numpy()).agg(["min", "max"])
    key = pd.DataFrame({"day": s.day, "home": s.home, "away": s.away})
    return Schedule(
        seasons=sorted(int(x) for x in s.season.dropna().unique()),
        games_per_season=round(float(counts.groupby(level="season").median().median())),
        league_games_per_season=round(
            float(usable[regular].groupby(s.season[regular]).size().median())
        ),
        season_days=int((spans["max"] - spans["min"]).dt.days.median()) + 1,
        doubleheaders=int(key.duplicated().sum()),
    )


def league_settings(
    name: str,
    probe: LeagueConfig,
    usable: pd.DataFrame,
    s: Seasons,
    schedule: Schedule,
    sport: Sport,
    layout: Layout,
    ties: int,
    finals: int,
) -> dict[str, Any]:
    """The config's `league` section."""
    clock = usable["start_time"].dt.tz_convert(probe.timezone).dt.strftime("%H:%M")
    return {
        "name": name,
        "teams": sorted(set(s.home) | set(s.away)),
        "season_label": s.label,
        "season_window": s.window.model_dump(),
        "games_per_season": max(1, min(schedule.games_per_season, 400)),
        "timezone": probe.timezone,
        "default_start_local": clock.mode().iloc[0] if layout.timed else probe.default_start_local,
        "game_duration_hours": sport.duration_hours,
        "allow_ties": ties_allowed(ties, finals),
        "allow_doubleheaders": schedule.doubleheaders > 0,
    }


def checks_for(found: LeagueFile, timezone: str, date_format: str | None, finals: int) -> list[str]:
    """What a person should look at: the time zone, the sport and K, a month-first date
    format, renamed teams, level scores read as errors."""
    sport, tuning = found.sport, found.tuning
    k = (
        f"{tuning.k:g}, tuned on seasons {tuning.seasons} (Elo log loss {tuning.loss:.4f}; "
        f"{tuning.default_loss:.4f} with the {sport.name} default {sport.k:g})"
        if tuning
        else f"{sport.k:g}, the {sport.name} default (too few seasons to tune it)"
    )
    checks = [
        f"timezone {timezone}: the league's local time zone (dates and local times are read in it)",
        f"sport {sport.name} (mean total {found.mean_total:.1f} per game): Elo {sport.why}; K {k}"
        if not found.winner_only
        else f"no scores, only who won: {sport.why}; form from wins; the margin and total "
        f"not modelled; K {k}",
    ]
    if date_format and date_format.startswith("%m/%d"):
        checks.append(f"the date format {date_format} (month first)")
    checks += [
        f"{r.old} (last game {r.last_old}) and {r.new} (first game {r.first_new}) are read "
        f"as one franchise, renamed: its rating carries over; delete the {r.old} entries "
        "under source.values if they are different teams"
        for r in found.relocations
    ]
    if found.ties and not ties_allowed(found.ties, finals):
        checks.append(
            f"{found.ties} final game(s) of {finals} ended level: read as a data error "
            "(quarantined); set league.allow_ties: true if the league has ties"
        )
    return checks


def numeric_columns(raw: pd.DataFrame, names: list[str]) -> dict[str, tuple[float, float]]:
    """Of `names`, the columns whose non-empty values are (nearly all) numbers, with their
    range: what `init` proposes as game facts."""
    found = {}
    for name in names:
        text = raw[name].astype("string").str.strip()
        present = text[text.fillna("") != ""]
        values = pd.to_numeric(present, errors="coerce")
        if len(present) and values.notna().mean() >= 0.99:
            found[name] = (float(values.min()), float(values.max()))
    return found


def read_league_file(
    path: Path,
    name: str,
    override: dict[str, str],
    sport_name: str | None = None,
    progress: Progress | None = None,
) -> LeagueFile:
    """Read a results file as `gameline ingest` will, with guessed settings; measure it
    (`progress` hears of Elo's tuning, the step that takes seconds)."""
    raw = read_text_table(path, [])
    file_columns, columns = map_columns(path, raw, override)
    layout = guess_layout(path, raw, columns)
    probe = probe_league(name)
    games = read_contract_file(path, probe, layout.source)
    usable = games[games["start_time"].notna() & games["home_team"].notna()]
    if usable.empty:
        raise ContractError(f"{path}: no row has a readable date and teams")
    seasons = find_seasons(usable, probe, "season" in columns)
    scores = final_scores(path, usable, columns)
    ties = int((scores["home_score"] == scores["away_score"]).sum())
    mean_total = float(scores.sum(axis=1).mean()) if len(scores) else float("nan")
    if scores.empty:  # who won, not the scores
        sport = WINNER_ONLY
    else:
        sport = SPORTS[sport_name or sport_of_scoring(mean_total, ties / len(scores))]
    schedule = measure_schedule(usable, seasons)
    renamed_games = usable.assign(
        home_team=seasons.home, away_team=seasons.away, season=seasons.season
    )
    league = league_settings(
        name, probe, usable, seasons, schedule, sport, layout, ties, len(scores)
    )
    guesses = [f"{contract:<13} <- {file}" for contract, file in columns.items()]
    clock = "" if layout.timed else f"; no clock: {league['default_start_local']} local"
    guesses += [f"dates: {layout.date_seen}{clock}", *layout.notes, *seasons.notes]
    unused = numeric_columns(raw, [c for c in file_columns if c not in columns.values()])
    if ignored := [c for c in file_columns if c not in columns.values()]:
        guesses.append(f"columns not used: {ignored}")
    if unused:
        guesses.append(
            f"{len(unused)} numeric column(s) proposed, commented out, as a game-facts source: "
            "enable only those known before a game starts (never a score's parts)"
        )
    found = LeagueFile(
        path=path,
        rows=len(games),
        columns=columns,
        date_format=layout.source.date_format,
        spread_convention=layout.source.spread_convention,
        values=layout.source.values,
        sport=sport,
        league=league,
        relocations=seasons.relocations,
        tuning=tune_k(renamed_games, probe, sport, schedule.seasons, progress),
        seasons=schedule.seasons,
        games_per_season=schedule.games_per_season,
        league_games_per_season=schedule.league_games_per_season,
        mean_total=mean_total,
        ties=ties,
        doubleheaders=schedule.doubleheaders,
        has_odds=bool(usable["home_ml"].notna().any()),
        has_open_odds=bool(usable["home_ml_open"].notna().any()),
        season_days=schedule.season_days,
        guesses=guesses,
        unused_numbers=unused,
    )
    found.checks = checks_for(found, probe.timezone, layout.source.date_format, len(scores))
    return found
