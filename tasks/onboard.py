"""`gameline init`: a league's results file in its own layout in, a commented config out.

It guesses which column is which from common names (home/away, team1/team2, h_/v_ prefixes,
score/final/pts/runs/goals), the date format, the status and flag codes, then reads the file
through the same reader `gameline ingest` uses and measures the league: teams, renamed teams,
season window and label, games per season, ties, doubleheaders, the scoring level (hence the
sport's Elo settings), how many seasons walk-forward training can test. What it could not be
sure of is listed for the user to check.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gameline.tasks.config import (
    EloConfig,
    FeaturesConfig,
    GamelineConfig,
    LeagueConfig,
    SeasonWindow,
    SourceConfig,
)
from gameline.tasks.contracts import SOURCE_LINE, ContractError, local_dates
from gameline.tasks.data.sources import (
    FALSE_WORDS,
    TRUE_WORDS,
    read_contract_file,
    read_text_table,
    season_of_dates,
)

# Words of a column name that say which side it is about.
HOME_WORDS = {"home", "h", "host", "hometeam", "local"}
AWAY_WORDS = {"away", "visitor", "visitors", "visiting", "vis", "v", "road", "guest", "awayteam"}
TEAM_WORDS = {"team", "name", "club", "abbr", "code", "franchise", "side"}
SCORE_WORDS = {"score", "final", "pts", "points", "runs", "r", "goals", "g", "gf"}
ODDS_WORDS = {"ml", "moneyline", "odds", "line", "price"}
OPEN_WORDS = {"open", "opening", "opener"}
DATE_NAMES = ["start_time", "datetime", "date_time", "start", "game_date", "gamedate", "date"]
SEASON_NAMES = ["season", "season_year", "year", "seasonyear"]
# Date formats tried in order when the values are not ISO (a non-ISO time is local time).
DATE_FORMATS = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%Y%m%d",
    "%Y/%m/%d",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%a, %b %d, %Y",
]
FINAL_CODES = re.compile(r"^(f|ft|fin|final|finished|full.?time|completed?|played|closed|aet)\b")
SCHEDULED_CODES = re.compile(r"^(s|sched|scheduled|upcoming|pre|not.?started|ns|tbd|tba)\b")
REGULAR_CODES = {"r", "reg", "regular", "regular season", "rs", "home", "h"}


@dataclass(frozen=True)
class Sport:
    """Settings that depend on the scoring level of a sport."""

    name: str
    mov_multiplier: str
    k: float
    home_advantage: float
    carryover: float
    home_margin_prior: float
    max_score: int
    windows: list[int]
    split_window: int
    max_rest_days: int
    duration_hours: float
    why: str


SPORTS = {
    "basketball": Sport(
        "basketball",
        "fivethirtyeight_nba",
        20,
        100,
        0.75,
        3.0,
        250,
        [5, 10, 20],
        10,
        7,
        2.5,
        "margins of points: FiveThirtyEight's NBA multiplier ((|margin|+3)^0.8)",
    ),
    "football": Sport(
        "football",
        "fivethirtyeight_nfl",
        20,
        48,
        0.67,
        2.0,
        120,
        [4, 8, 16],
        8,
        14,
        3.25,
        "margins of points in scores of touchdowns: FiveThirtyEight's NFL multiplier "
        "(ln(|margin|+1))",
    ),
    "baseball": Sport(
        "baseball",
        "fivethirtyeight_nhl",
        4,
        24,
        0.67,
        0.2,
        50,
        [10, 20, 40],
        20,
        5,
        3.0,
        "margins of a few runs: the log goal/run multiplier (a 1-run game 0.8, 3 runs 1.5)",
    ),
    "hockey": Sport(
        "hockey",
        "fivethirtyeight_nhl",
        6,
        50,
        0.7,
        0.25,
        25,
        [5, 10, 20],
        10,
        7,
        2.75,
        "margins of goals: FiveThirtyEight's NHL multiplier (0.67 ln|margin| + 0.80)",
    ),
    "soccer": Sport(
        "soccer",
        "fivethirtyeight_nhl",
        20,
        70,
        0.8,
        0.35,
        20,
        [5, 10, 19],
        5,
        14,
        2.0,
        "margins of one or two goals and many draws: the log goal multiplier",
    ),
}


def ties_allowed(ties: int, finals: int) -> bool:
    """Whether the league has ties: more than one in a thousand finals (one level score in a
    basketball file is a typo, not a rule)."""
    return ties > max(1, finals / 1000)


def sport_of_scoring(mean_total: float, tie_share: float) -> str:
    """The sport a scoring level points to (total points per game)."""
    if mean_total >= 120:
        return "basketball"
    if mean_total >= 20:
        return "football"
    if mean_total >= 7.5:
        return "baseball"
    if mean_total < 4 and tie_share > 0.1:
        return "soccer"
    return "hockey"


def _words(name: str) -> list[str]:
    """A column name's words: lower case, split at non-letters, camel case and digits."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", name)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    out: list[str] = []
    for word in words:  # "hometeam", "awayscore", "hteam": a side word glued to another
        known = TEAM_WORDS | SCORE_WORDS | ODDS_WORDS | OPEN_WORDS
        glued = next(
            (
                s
                for s in sorted(HOME_WORDS | AWAY_WORDS, key=len, reverse=True)
                if len(s) > 1 and word.startswith(s) and word[len(s) :] in known
            ),
            None,
        )
        out += [glued, word[len(glued) :]] if glued else [word]
    return out


def _column_role(name: str) -> str | None:
    """The contract column a file column looks like, from its name alone."""
    words = _words(name)
    numbered = [w for w in words if w in ("1", "2")]
    # A side word decides; a lone 1 or 2 only without one (team1 is at home, q1_away is not).
    if set(words) & HOME_WORDS:
        side: str | None = "home"
    elif set(words) & AWAY_WORDS:
        side = "away"
    else:
        side = {"1": "home", "2": "away"}.get(numbered[0]) if len(numbered) == 1 else None
    if side is None:
        return None
    rest = set(words) - HOME_WORDS - AWAY_WORDS - {"1", "2"}
    if rest & ODDS_WORDS:
        return f"{side}_ml_open" if rest & OPEN_WORDS else f"{side}_ml"
    if rest & SCORE_WORDS:
        return f"{side}_score"
    if rest <= TEAM_WORDS:
        return f"{side}_team"
    return None


def guess_columns(file_columns: list[str]) -> dict[str, str]:
    """{contract column: file column} for the columns whose names say what they are; an exact
    contract name wins, then the first column of a kind."""
    mapping: dict[str, str] = {}
    lower = {c.lower(): c for c in file_columns}
    for name in lower:
        contract = name if name in CONTRACT_NAMES else None
        if contract:
            mapping[contract] = lower[name]
    for name in DATE_NAMES:
        if "start_time" not in mapping and name in lower:
            mapping["start_time"] = lower[name]
    for name in SEASON_NAMES:
        if "season" not in mapping and name in lower:
            mapping["season"] = lower[name]
    for column in file_columns:
        role = _column_role(column)
        if role and role not in mapping and column not in mapping.values():
            mapping[role] = column
    flag_words = {
        "neutral": lambda w: "neutral" in w,
        "playoff": lambda w: bool({"playoff", "playoffs", "postseason"} & w),
        "status": lambda w: "status" in w,
        "game_number": lambda w: "game" in w and bool({"number", "num", "no", "nbr", "n"} & w),
    }
    for flag, matches in flag_words.items():
        found = [c for c in file_columns if matches(set(_words(c)))]
        if flag not in mapping and found and found[0] not in mapping.values():
            mapping[flag] = found[0]
    return mapping


CONTRACT_NAMES = {
    "game_id", "season", "start_time", "home_team", "away_team", "neutral", "playoff",
    "home_score", "away_score", "status", "home_ml", "away_ml", "home_ml_open", "away_ml_open",
    "game_number",
}  # fmt: skip


def parse_columns_option(text: str | None) -> dict[str, str]:
    """`--columns home_team=HomeTeam,away_team=Visitor` as a dict (checked names)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        contract, sep, column = part.partition("=")
        contract, column = contract.strip(), column.strip()
        if not sep or not column or contract not in CONTRACT_NAMES:
            raise ValueError(
                f"--columns: {part.strip()!r} is not <contract column>=<file column>; contract "
                f"columns: {sorted(CONTRACT_NAMES)}"
            )
        out[contract] = column
    return out


def guess_date_format(values: pd.Series) -> tuple[str | None, str]:
    """(strftime format, or None when the values are ISO dates/times the reader takes as they
    are; what was seen). A time without an offset is local time, so it gets a format."""
    sample = values[values.fillna("") != ""].head(2000)
    if sample.empty:
        raise ValueError("the date column is empty")
    if sample.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return None, "ISO dates (YYYY-MM-DD)"
    zoned = sample.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    if zoned.all() and pd.to_datetime(sample, format="ISO8601", errors="coerce").notna().all():
        return None, "ISO date-times with a UTC offset"
    for fmt in DATE_FORMATS:
        if pd.to_datetime(sample, format=fmt, errors="coerce").notna().all():
            if (
                fmt.startswith("%m/%d")
                and pd.to_datetime(sample, format="%d" + fmt[2:3] + "%m" + fmt[5:], errors="coerce")
                .notna()
                .all()
            ):
                return fmt, f"{fmt} (day and month are both <= 12 throughout: check the order)"
            return fmt, fmt
    shown = ", ".join(sample.head(3))
    raise ValueError(
        f"cannot tell the date format of values like {shown}: give source.date_format "
        "in the config (a strftime format)"
    )


def guess_values(raw: pd.DataFrame) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Value maps for status and flag columns whose codes the reader does not take as they are,
    and a line for each."""
    maps: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    if "status" in raw:
        codes = sorted(set(raw["status"].fillna("")) - {"", "final", "scheduled"})
        mapping = {}
        for code in codes:
            low = code.lower()
            if FINAL_CODES.match(low):
                mapping[code] = "final"
            elif SCHEDULED_CODES.match(low):
                mapping[code] = "scheduled"
        unknown = [c for c in codes if c not in mapping]
        if mapping:
            maps["status"] = mapping
            notes.append(f"status codes read as: {mapping}")
        if unknown:
            notes.append(f"status codes not understood (rows quarantined): {unknown}: map them")
    for flag in ("neutral", "playoff"):
        if flag not in raw:
            continue
        codes = sorted(set(raw[flag].fillna("").str.lower()))
        if all(c in TRUE_WORDS | FALSE_WORDS for c in codes):
            continue
        originals = sorted(set(raw[flag].fillna("")) - {""})
        # A marker column: empty (or a word for "regular"/"no") is false, any other code true.
        mapping = {
            c: "false" if c.lower() in FALSE_WORDS | REGULAR_CODES else "true" for c in originals
        }
        maps[flag] = mapping
        notes.append(f"{flag} codes read as: {mapping} (empty: false)")
    return maps, notes


def season_labels(raw: pd.Series) -> dict[str, str]:
    """{'2021-22': '2021', ...} where every season label spans two years (2021-22, 2021/2022,
    20212022); {} when they are numbers already."""
    labels = sorted(set(raw.dropna()) - {""})
    spans = [re.fullmatch(r"(\d{4})[-/]?(\d{2}|\d{4})", label) for label in labels]
    if not labels or not all(spans):
        return {}
    return {label: m.group(1) for label, m in zip(labels, spans, strict=True) if m}


def year_window(days: pd.Series) -> tuple[str, str, bool]:
    """(first, last month-day, crosses New Year) of a full-year season window whose boundary
    sits in the middle of the calendar's longest stretch without games."""
    day_of_year = days.dt.dayofyear.clip(upper=365).to_numpy()
    played = np.zeros(365, dtype=bool)
    played[day_of_year - 1] = True
    if played.all():
        return "01-01", "12-31", False
    # The longest circular run of days without games; the boundary is its middle.
    doubled = np.concatenate([~played, ~played])
    best_len, best_start, run = 0, 0, 0
    for i, empty in enumerate(doubled):
        run = run + 1 if empty else 0
        if run > best_len and run <= 365:
            best_len, best_start = run, i - run + 1
    middle = (best_start + best_len // 2) % 365
    start = pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(middle))
    end = start - pd.Timedelta(days=1)
    return start.strftime("%m-%d"), end.strftime("%m-%d"), start.strftime("%m-%d") != "01-01"


@dataclass
class Relocation:
    old: str
    new: str
    last_old: str
    first_new: str


def find_relocations(games: pd.DataFrame, day: pd.Series, season: pd.Series) -> list[Relocation]:
    """One franchise under a new code (a move or a rename): exactly one code plays its last
    game and exactly one its first between two seasons, or within one season without
    overlapping, and the league has as many teams before as after. Where several codes come
    and go at once, or the league grows or shrinks, nothing is guessed."""
    sides = pd.DataFrame(
        {
            "team": np.concatenate([games["home_team"].to_numpy(), games["away_team"].to_numpy()]),
            "day": np.concatenate([day.to_numpy(), day.to_numpy()]),
            "season": np.concatenate([season.to_numpy(), season.to_numpy()]),
        }
    )
    span = sides.groupby("team").agg(
        first=("day", "min"), last=("day", "max"), start=("season", "min"), end=("season", "max")
    )
    teams_in = sides.groupby("season")["team"].nunique()
    seasons = sorted(teams_in.index)
    found: list[Relocation] = []
    for before, after in itertools.pairwise(seasons):
        gone = span[span["end"] == before]
        new = span[span["start"] == after]
        if len(gone) == 1 and len(new) == 1 and teams_in[before] == teams_in[after]:
            found.append(_relocation(gone, new))
    for within in seasons[1:-1]:  # a new code part of the way through a season
        gone = span[(span["end"] == within) & (span["start"] < within)]
        new = span[(span["start"] == within) & (span["end"] > within)]
        neighbours = {teams_in[s] for s in seasons if abs(s - within) == 1}
        if (
            len(gone) == 1
            and len(new) == 1
            and gone["last"].iloc[0] < new["first"].iloc[0]
            and neighbours == {teams_in[within] - 1}
        ):
            found.append(_relocation(gone, new))
    return found


def renames_of(relocations: list[Relocation]) -> dict[str, str]:
    """Old code -> the franchise's latest code (NYY -> DTX -> IND gives NYY: IND, DTX: IND)."""
    step = {r.old: r.new for r in relocations}
    final = {}
    for old in step:
        new = step[old]
        while new in step:
            new = step[new]
        final[old] = new
    return final


def _relocation(gone: pd.DataFrame, new: pd.DataFrame) -> Relocation:
    return Relocation(
        old=str(gone.index[0]),
        new=str(new.index[0]),
        last_old=pd.Timestamp(gone["last"].iloc[0]).date().isoformat(),
        first_new=pd.Timestamp(new["first"].iloc[0]).date().isoformat(),
    )


@dataclass(frozen=True)
class KTuning:
    """The Elo K factor chosen on the seasons walk-forward only trains on."""

    k: float
    loss: float
    default_loss: float
    seasons: str


K_STEPS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # times the sport's K


def elo_log_loss(
    games: pd.DataFrame, league: LeagueConfig, elo: EloConfig, scored_from: int | None = None
) -> float:
    """Log loss of the pre-game Elo probability (home advantage included) on the decided final
    games of season `scored_from` on (default: after the first season of `games`)."""
    from gameline.tasks.contracts import home_win
    from gameline.tasks.features.team import team_features

    rows = team_features(games, FeaturesConfig(windows=[5], split_window=5, elo=elo), league)
    pivot = rows.pivot_table(index="game_id", columns="is_home", values="elo_pre")
    scored = games.set_index("game_id").loc[pivot.index]
    edge = np.where(scored["neutral"].to_numpy(dtype=bool), 0.0, elo.home_advantage)
    diff = pivot[True].to_numpy() + edge - pivot[False].to_numpy()
    p = np.clip(1 / (1 + 10 ** (-diff / 400)), 1e-6, 1 - 1e-6)
    y = home_win(scored["home_score"], scored["away_score"])
    first = scored["season"].min() + 1 if scored_from is None else scored_from
    keep = ~np.isnan(y) & (scored["season"].to_numpy() >= first)
    return float(-np.mean(y[keep] * np.log(p[keep]) + (1 - y[keep]) * np.log(1 - p[keep])))


def tune_k(
    games: pd.DataFrame, league: LeagueConfig, sport: Sport, seasons: list[int]
) -> KTuning | None:
    """K from a grid around the sport's, by Elo log loss on the seasons before walk-forward's
    first test season (so the tests stay unseen); None with fewer than two such seasons."""
    first_test = first_test_season(seasons)
    train = games[games["season"] < first_test]
    if train["season"].nunique() < 2:
        return None
    elo = EloConfig(
        k=sport.k,
        home_advantage=sport.home_advantage,
        mov_multiplier=sport.mov_multiplier,  # type: ignore[arg-type]
        season_carryover=sport.carryover,
    )
    losses = {
        step: elo_log_loss(train, league, elo.model_copy(update={"k": sport.k * step}))
        for step in K_STEPS
    }
    best = min(losses, key=losses.__getitem__)
    used = sorted(int(x) for x in train["season"].unique())
    return KTuning(
        k=round(sport.k * best, 2),
        loss=losses[best],
        default_loss=losses[1.0],
        seasons=f"{used[0]}-{used[-1]}",
    )


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
    checks: list[str] = field(default_factory=list)

    @property
    def k(self) -> float:
        """The Elo K factor: tuned where there were seasons to tune on, else the sport's."""
        return self.tuning.k if self.tuning else self.sport.k


def _season_window(day: pd.Series, season: pd.Series | None) -> tuple[SeasonWindow, str, list[str]]:
    """(window, season label, notes): with a season column, the span its seasons cover; without
    one, a full year around the off-season, labelled by the year most games are played in."""
    notes: list[str] = []
    if season is not None and season.notna().any():
        window = _labelled_window(day, season)
        return window, "end" if window.start_year_offset < 0 else "start", notes
    start, end, crosses = year_window(day)
    md = day.dt.strftime("%m-%d")
    later_year = (md < start) & crosses
    offset = -1 if later_year.mean() > 0.5 else 0
    notes.append(
        "no season column: a game's season is derived from its date (league.season_window)"
    )
    window = SeasonWindow(
        start=start,
        start_year_offset=offset,
        end=end,
        end_year_offset=offset + (1 if crosses else 0),
    )
    return window, "start" if offset == 0 else "end", notes


SEASON_PADDING_DAYS = 14


def _labelled_window(day: pd.Series, season: pd.Series) -> SeasonWindow:
    """The window the file's own seasons span: from the earliest first game to the latest last
    game of any season (relative to its label's year), two weeks either side."""
    labelled = season.notna() & day.notna()
    label_year = pd.to_datetime(season[labelled].astype("int64").astype("string") + "-01-01")
    relative = (day[labelled] - label_year.to_numpy()).dt.days
    edges = []
    for days in (relative.min() - SEASON_PADDING_DAYS, relative.max() + SEASON_PADDING_DAYS):
        when = pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(days))
        edges.append((when.strftime("%m-%d"), when.year - 2001))
    (start, start_offset), (end, end_offset) = edges
    if not (-1 <= start_offset <= end_offset <= 1):
        raise ValueError(
            "the season column does not follow the dates (some games are more than a year "
            "from their season's label): check which column is the season (--columns "
            "season=<column>)"
        )
    return SeasonWindow(
        start=start, start_year_offset=start_offset, end=end, end_year_offset=end_offset
    )


def _require_core_columns(raw_columns: list[str], columns: dict[str, str]) -> None:
    """The teams and the date must be mapped; else one line naming what to give."""
    missing = [c for c in ("home_team", "away_team", "start_time") if c not in columns]
    if missing:
        raise ValueError(
            f"cannot tell which column is {' / '.join(missing)} (file columns: {raw_columns}); "
            "name it: --columns " + ",".join(f"{c}=<column>" for c in missing)
        )


def read_league_file(
    path: Path, name: str, override: dict[str, str], sport_name: str | None = None
) -> LeagueFile:
    """Read a results file as `gameline ingest` will, with guessed settings; measure it."""
    raw = read_text_table(path, [])
    file_columns = [c for c in raw.columns if c != SOURCE_LINE]
    unknown = [c for c in override.values() if c not in file_columns]
    if unknown:
        raise ValueError(f"--columns: {unknown} not in {path} (its columns: {file_columns})")
    guessed = guess_columns(file_columns)
    columns = {**{k: v for k, v in guessed.items() if v not in override.values()}, **override}
    _require_core_columns(file_columns, columns)
    renamed = raw.rename(columns={file: contract for contract, file in columns.items()})
    date_format, date_seen = guess_date_format(renamed["start_time"])
    values, value_notes = guess_values(renamed)
    if "season" in renamed:
        labels = season_labels(renamed["season"])
        if labels:
            values["season"] = labels
            value_notes.append("season labels like " + next(iter(labels)) + " read as the year "
                               "they start in")  # fmt: skip
    probe = LeagueConfig(
        name=name,
        allow_doubleheaders=True,
        allow_ties=True,
        season_window=SeasonWindow(start="01-01", start_year_offset=0, end="12-31"),
    )
    layout = SourceConfig(
        kind="csv",
        path=path,
        columns={k: v for k, v in columns.items() if k != v},
        values=values,
        date_format=date_format,
    )
    games = read_contract_file(path, probe, layout)
    usable = games[games["start_time"].notna() & games["home_team"].notna()]
    if usable.empty:
        raise ContractError(f"{path}: no row has a readable date and teams")
    day = local_dates(usable["start_time"], probe)
    has_season = "season" in columns
    window, label, season_notes = _season_window(day, usable["season"] if has_season else None)
    league_probe = probe.model_copy(update={"season_window": window})
    season = usable["season"] if has_season else season_of_dates(day, league_probe)
    relocations = find_relocations(usable, day, season)
    rename = renames_of(relocations)
    home = usable["home_team"].replace(rename)
    away = usable["away_team"].replace(rename)
    final = usable["status"].eq("final") & usable["home_score"].notna()
    scores = usable.loc[final, ["home_score", "away_score"]].astype("float64")
    if scores.empty:
        missing = [c for c in ("home_score", "away_score") if c not in columns]
        raise ValueError(
            f"{path}: no game has a final score"
            + (
                "; if it has them, name the column(s): --columns "
                + ",".join(f"{c}=<column>" for c in missing)
                if missing
                else f" in {[columns['home_score'], columns['away_score']]}"
            )
        )
    total = scores.sum(axis=1)
    ties = int((scores["home_score"] == scores["away_score"]).sum())
    mean_total = float(total.mean()) if len(total) else float("nan")
    sport = (
        SPORTS[sport_name]
        if sport_name
        else SPORTS[sport_of_scoring(mean_total, ties / max(len(scores), 1))]
    )
    per_team = pd.concat(
        [
            pd.DataFrame({"season": season, "team": home}),
            pd.DataFrame({"season": season, "team": away}),
        ]
    )
    regular = ~usable["playoff"].astype(bool)
    counts = per_team[np.concatenate([regular, regular])].groupby(["season", "team"]).size()
    seasons = sorted(int(s) for s in season.dropna().unique())
    # Games per team in a season: the median team's, in the median season (robust to a
    # season cut short or still under way).
    games_per_season = round(float(counts.groupby(level="season").median().median()))
    renamed_games = usable.assign(home_team=home, away_team=away, season=season)
    tuning = tune_k(renamed_games, probe, sport, seasons)
    league_games = round(float(usable[regular].groupby(season[regular]).size().median()))
    spans = day.groupby(season.to_numpy()).agg(["min", "max"])
    season_days = int((spans["max"] - spans["min"]).dt.days.median()) + 1
    key = pd.DataFrame({"day": day, "home": home, "away": away})
    doubleheaders = int(key.duplicated().sum())
    clock = usable["start_time"].dt.tz_convert(probe.timezone).dt.strftime("%H:%M")
    if date_format is not None:
        timed = "%H" in date_format
    else:
        timed = not (renamed["start_time"].str.len() == 10).all()
    default_start = clock.mode().iloc[0] if timed else probe.default_start_local
    league: dict[str, Any] = {
        "name": name,
        "teams": sorted(set(home) | set(away)),
        "season_label": label,
        "season_window": window.model_dump(),
        "games_per_season": max(1, min(games_per_season, 400)),
        "timezone": probe.timezone,
        "default_start_local": default_start,
        "game_duration_hours": sport.duration_hours,
        "allow_ties": ties_allowed(ties, len(scores)),
        "allow_doubleheaders": doubleheaders > 0,
    }
    guesses = [f"{contract:<13} <- {file}" for contract, file in columns.items()]
    guesses.append(f"dates: {date_seen}" + ("" if timed else f"; no clock: {default_start} local"))
    guesses += value_notes + season_notes
    checks = [
        f"timezone {probe.timezone}: the league's local time zone (dates and local times are read "
        "in it)",
        f"sport {sport.name} (mean total {mean_total:.1f} per game): Elo {sport.why}; K "
        + (
            f"{tuning.k:g}, tuned on seasons {tuning.seasons} (Elo log loss {tuning.loss:.4f}; "
            f"{tuning.default_loss:.4f} with the {sport.name} default {sport.k:g})"
            if tuning
            else f"{sport.k:g}, the {sport.name} default (too few seasons to tune it)"
        ),
    ]
    if date_format and date_format.startswith("%m/%d"):
        checks.append(f"the date format {date_format} (month first)")
    for r in relocations:
        checks.append(
            f"{r.old} (last game {r.last_old}) and {r.new} (first game {r.first_new}) are read "
            f"as one franchise, renamed: its rating carries over; delete the {r.old} entries "
            "under source.values if they are different teams"
        )
    if ties and not ties_allowed(ties, len(scores)):
        checks.append(
            f"{ties} final game(s) of {len(scores)} ended level: read as a data error "
            "(quarantined); set league.allow_ties: true if the league has ties"
        )
    ignored = [c for c in file_columns if c not in columns.values()]
    if ignored:
        guesses.append(f"columns not used: {ignored}")
    has_odds = bool(usable["home_ml"].notna().any())
    has_open = bool(usable["home_ml_open"].notna().any())
    return LeagueFile(
        path=path,
        rows=len(games),
        columns=columns,
        date_format=date_format,
        values=values,
        sport=sport,
        league=league,
        relocations=relocations,
        tuning=tuning,
        seasons=seasons,
        games_per_season=games_per_season,
        league_games_per_season=league_games,
        mean_total=mean_total,
        ties=ties,
        doubleheaders=doubleheaders,
        has_odds=has_odds,
        has_open_odds=has_open,
        season_days=season_days,
        guesses=guesses,
        checks=checks,
    )


def _inline(value: Any) -> str:
    """A value as one line of YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return str(text).removesuffix("\n").removesuffix("\n...")


def _operations(found: LeagueFile) -> dict[str, int]:
    """Gate, retrain and monitor sizes that fit how many games the league plays."""
    league_games = max(found.league_games_per_season, 1)
    window_games = min(1000, max(100, league_games))
    min_games = min(300, max(30, window_games // 3))
    per_day = league_games / max(found.season_days, 1)
    window_days = int(min(60, max(14, math.ceil(100 / max(per_day, 1e-9)))))
    return {
        "window_games": window_games,
        "min_games": min_games,
        "min_new_games": 2 * min_games,
        "window_days": window_days,
        "monitor_min_games": int(min(100, max(10, 0.6 * per_day * window_days))),
    }


TEST_SEASONS = 5  # walk-forward tests at most the latest five seasons (one fold each)


def walk_forward_seasons(seasons: int) -> int:
    """Training seasons before the first test season, leaving at least one season to test."""
    if seasons < 2:
        raise ValueError(
            f"walk-forward training needs at least two seasons of games; the file has {seasons}"
        )
    return max(1, min(3, seasons - 2))


def first_test_season(seasons: list[int]) -> int:
    """Walk-forward's first test season: after its training seasons, at most TEST_SEASONS from
    the end."""
    min_train = walk_forward_seasons(len(seasons))
    return max(seasons[min_train], seasons[-min(TEST_SEASONS, len(seasons))])


def config_text(found: LeagueFile, data_dir: Path, written: str) -> str:
    """The commented YAML config of a league file."""
    lg, sport, ops = found.league, found.sport, _operations(found)
    name = lg["name"].lower()
    renames = renames_of(found.relocations)
    values = dict(found.values)
    if renames:
        values["home_team"] = dict(renames)
        values["away_team"] = dict(renames)  # a copy: the same object twice is a YAML anchor
    columns = {k: v for k, v in found.columns.items() if k != v}
    first, last = found.seasons[0], found.seasons[-1]
    min_train = walk_forward_seasons(len(found.seasons))
    first_test = first_test_season(found.seasons)
    lines = [
        f"# Written by `gameline init` from {found.path.name} on {written}: {found.rows} rows,",
        f"# seasons {first}-{last}, {len(lg['teams'])} teams. Lines marked CHECK are guesses",
        "# worth a look; everything else was measured on the file.",
        f"name: {name}",
        f"state_dir: .gameline-{name}",
        f"data_dir: {_inline(str(data_dir))}   # the file's folder (GAMELINE_DATA_DIR overrides)",
        "",
        "league:",
        f"  name: {lg['name']}",
        f"  # {len(lg['teams'])} teams in the file"
        + (f" (renamed codes merged: {_inline(renames)})" if renames else ""),
        f"  teams: {_inline(lg['teams'])}",
        f"  season_label: {lg['season_label']}   # season {last} = the one that "
        f"{'starts' if lg['season_label'] == 'start' else 'ends'} in {last}",
        "  # A season's games fall between these dates; the boundary is the middle of the",
        "  # off-season" + ("" if "season" in found.columns else ", and gives a game its season"),
        f"  season_window: {_inline(lg['season_window'])}",
        f"  games_per_season: {lg['games_per_season']}   # per team: the median team of the "
        "median season",
        f"  timezone: {lg['timezone']}   # CHECK: the league's local time zone",
        f"  default_start_local: {_inline(lg['default_start_local'])}   # a game given a date "
        "only starts at this local time",
        f"  game_duration_hours: {lg['game_duration_hours']}   # a result is known this long "
        "after the start",
        f"  allow_ties: {_inline(lg['allow_ties'])}   # {found.ties} final games ended level",
        f"  allow_doubleheaders: {_inline(lg['allow_doubleheaders'])}   # {found.doubleheaders} "
        "games were a second game of the same teams on a date",
        "",
        "source:",
        "  kind: csv",
        f"  path: {_inline(found.path.name)}",
        "  # contract column: the file's column",
        f"  columns: {_inline(columns)}",
    ]
    if values:
        lines += ["  # the file's codes: what they mean", f"  values: {_inline(values)}"]
    if found.date_format:
        lines.append(
            f"  date_format: {_inline(found.date_format)}   # CHECK: local time in league.timezone"
        )
    lines += [
        "",
        "validation:",
        f"  max_score: {sport.max_score}   # a {sport.name} score above this is a typo",
        "",
        "features:",
        f"  windows: {_inline(sport.windows)}   # rolling form over this many games",
        f"  split_window: {sport.split_window}",
        f"  max_rest_days: {sport.max_rest_days}",
        "  elo:",
        f"    # CHECK: {sport.name}, from a mean total score of {found.mean_total:.1f} a game: "
        f"{sport.why}",
        f"    k: {found.k:g}   # "
        + (
            f"tuned on seasons {t.seasons}: Elo log loss {t.loss:.4f} (K {sport.k:g}: "
            f"{t.default_loss:.4f})"
            if (t := found.tuning)
            else "too few seasons before the first test season to tune it"
        ),
        f"    home_advantage: {sport.home_advantage:g}   # rating points",
        f"    mov_multiplier: {sport.mov_multiplier}",
        f"    season_carryover: {sport.carryover:g}   # share of a rating kept into a new season",
        "  league_home:",
        f"    prior_points: {sport.home_margin_prior:g}   # the home margin before any game",
        "",
        "train:",
        f"  min_train_seasons: {min_train}   # walk-forward: {len(found.seasons)} seasons, the "
        f"first {min_train} only train",
        f"  first_test_season: {first_test}   # one fold per season from here on",
        f"  market_variant: {_inline(found.has_odds)}   # "
        + ("the file has moneylines" if found.has_odds else "the file has no moneylines"),
        "",
        f"# Sized for about {found.league_games_per_season} games a season across the league",
        "gate:",
        f"  window_games: {ops['window_games']}",
        f"  min_games: {ops['min_games']}",
        "retrain:",
        f"  min_new_games: {ops['min_new_games']}   # a refresh is judged on the newer half of "
        "these: twice gate.min_games",
        "monitor:",
        f"  window_days: {ops['window_days']}",
        f"  min_games: {ops['monitor_min_games']}",
        "",
    ]
    return "\n".join(lines)


def write_config(found: LeagueFile, out: Path, force: bool = False) -> str:
    """Write the config (temp file, then rename); refuse to overwrite unless `force`."""
    from gameline.tasks.config import load_config
    from gameline.tasks.storage import write_text

    if out.exists() and not force:
        raise ValueError(f"{out} exists: give --force to overwrite it, or --out another file")
    text = config_text(found, found.path.resolve().parent, datetime.now(UTC).date().isoformat())
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, out)
    load_config(out)  # what was written loads (a bug here is ours, not the user's)
    return text


def check_config(config: GamelineConfig) -> tuple[int, int, dict[str, int]]:
    """(rows read, rows the rules would keep, rows per broken rule) of the config's file."""
    from gameline.tasks.data.sources import load_games
    from gameline.tasks.data.validate import validate_games

    games = load_games(config)
    outcome = validate_games(games, config, datetime.now(UTC))
    broken = {r.rule: r.failed for r in outcome.results if r.failed}
    return len(games), len(outcome.valid), broken
