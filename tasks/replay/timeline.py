"""The replay's clock and what is known at each tick.

The replay runs the daily pipeline once a day at `at` (UTC; the daily deployment's hour). At a
run time `now`, a game's result is known only if the game had ended by then (its start plus
the league's game duration): `known_games` is the game store as an ingest at `now` would have
left it, `known_frame` the training set such a store gives. Both are taken from the features of
the whole store because every feature row is point in time (built from games that ended before
the row's game started); `day_features` builds the features a prediction at `now` saw from the
known games alone, and the replay's leakage test proves no later result reaches them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.features.context import ContextAsOf, game_context
from gameline.tasks.features.store import TeamFeatureStore

RESULT_COLUMNS = ("home_score", "away_score")


def run_times(start: date, end: date, at: time) -> list[datetime]:
    """Every day's run time from `start` to `end` (inclusive), at `at` UTC."""
    days = (end - start).days + 1
    first = datetime.combine(start, at, tzinfo=UTC)
    return [first + timedelta(days=i) for i in range(max(days, 0))]


def end_times(starts: pd.Series, config: GamelineConfig) -> pd.Series:
    """When games that start at `starts` end (plus the league's game duration)."""
    return starts + pd.Timedelta(hours=config.league.game_duration_hours)


def known_games(games: pd.DataFrame, ends: pd.Series, now: datetime) -> pd.DataFrame:
    """The game store as of `now`: games that had not ended by then are scheduled, no score."""
    pending = (ends > pd.Timestamp(now)).to_numpy() & (games["status"] == "final").to_numpy()
    if not pending.any():
        return games
    out = games.copy()
    out.loc[pending, "status"] = "scheduled"
    for column in RESULT_COLUMNS:
        out.loc[pending, column] = pd.NA
    return out


def known_frame(frame: pd.DataFrame, ends: pd.Series, now: datetime) -> pd.DataFrame:
    """The training set as of `now`: games that started before it, with the label and the
    scores of the ones that had ended (`ends`: each row's end time, on the frame's index)."""
    stamp = pd.Timestamp(now)
    started = (frame["event_timestamp"] < stamp).to_numpy()
    out = frame[started]
    pending = (ends[started] > stamp).to_numpy()
    if not pending.any():
        return out
    out = out.copy()
    for column in (LABEL, *RESULT_COLUMNS):
        out.loc[pending, column] = np.nan
    return out


def day_games(games: pd.DataFrame, now: datetime, until: datetime) -> pd.DataFrame:
    """Games starting in [now, until): the ones the run at `now` is the last to predict."""
    start = games["start_time"]
    return games[(start >= pd.Timestamp(now)) & (start < pd.Timestamp(until))]


def day_features(
    store: TeamFeatureStore,
    known: pd.DataFrame,
    games: pd.DataFrame,
    config: GamelineConfig,
    now: datetime,
) -> pd.DataFrame:
    """The features a prediction at `now` saw for `games` (rows of `known`, the store as of
    `now`): the schedule context of the known store and each team's latest state that ended by
    `now`, the same join the online store serves."""
    context = game_context(known, config.features, config.league)
    return store.training_set(games, context, as_of=now)


def days_features(
    store: TeamFeatureStore, context: ContextAsOf, days: list[tuple[datetime, pd.DataFrame]]
) -> list[pd.DataFrame]:
    """`day_features` of each (run time, that run's games) in one point-in-time join (each
    game stamped with its run's time; a game belongs to one day), the context from the whole
    store's `ContextAsOf`: the same rows (a test compares the contexts; the replay's leakage
    test these rows), without a join and a context of the store per day."""
    if not days:
        return []
    games = pd.concat([day for _, day in days])
    contexts = pd.concat([context.at(day, now) for now, day in days])
    runs = pd.Series(
        np.repeat([pd.Timestamp(now) for now, _ in days], [len(day) for _, day in days])
    ).astype("datetime64[us, UTC]")
    rows = store.training_set(games, contexts, as_of=runs)
    bounds = np.cumsum([0, *(len(day) for _, day in days)])
    return [rows.iloc[start:stop].reset_index(drop=True) for start, stop in pairwise(bounds)]
