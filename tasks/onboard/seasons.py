"""A league's seasons: the window a season's games fall in (from the file's labels, or a year
around the off-season), renamed teams (relocations), and how many seasons walk-forward training
trains on before its first test season."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gameline.tasks.config import SeasonWindow


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


def league_season_window(
    day: pd.Series, season: pd.Series | None
) -> tuple[SeasonWindow, str, list[str]]:
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
