"""A game's context: what a team-game's features take from the schedule and the league's
finished games besides its team's state (season, rest days, back-to-back, season progress, the
league's recent home margin, and the end of the team's latest final before it). The same for
training (`game_context` of the whole store) and for serving (`ContextAsOf` a run's time), so
serving joins the latest state with the same context training saw (`team.pregame`)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from gameline.tasks.config import FeaturesConfig, LeagueConfig
from gameline.tasks.features.team import (
    CONTEXT_COLUMNS,
    home_margin_states,
    team_games_with_results,
)


def game_context(games: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig) -> pd.DataFrame:
    """Every team-game's context from the schedule and the league's finished games: its
    season, rest days, back-to-back, season progress, the league's recent home margin, and the
    end of its team's latest final game before it (`state_end`, NaT if none). Indexed by
    (game_id, team)."""
    tg, names = team_games_with_results(games, cfg, league, elo=False)
    joined = pd.merge_asof(
        tg[["team", "game", "start_time", *CONTEXT_COLUMNS]].sort_values(
            "start_time", kind="stable"
        ),
        final_ends(tg),
        left_on="start_time",
        right_on="end_time",
        by="team",
        allow_exact_matches=True,
    )
    return keyed_context(joined, names, games["game_id"].to_numpy())


def final_ends(tg: pd.DataFrame) -> pd.DataFrame:
    """Each team's final games by end, the end also as `state_end` (what an as-of join on
    the end keeps)."""
    ends = tg.loc[tg["final"], ["team", "end_time"]].sort_values("end_time", kind="stable")
    return ends.assign(state_end=ends["end_time"])


def keyed_context(joined: pd.DataFrame, names: np.ndarray, game_ids: np.ndarray) -> pd.DataFrame:
    """Team-games joined with their latest final, as the context table: indexed by
    (game_id, team), the context columns and `state_end`."""
    keyed = joined.assign(
        team=names[joined["team"].to_numpy()], game_id=game_ids[joined["game"].to_numpy()]
    )
    return keyed.set_index(["game_id", "team"])[[*CONTEXT_COLUMNS, "state_end"]]


class ContextAsOf:
    """`game_context` of the store as an ingest at a time `now` would have left it (the games
    that had not ended by then unplayed), for games that start at or after `now`, from one pass
    over the whole store (a replay's day: `game_context` of each day's store cost 0.1 s a day
    on the NBA's 23,000 games). Exact, not approximate:
    - the schedule columns (season, rest, back-to-back, season progress) do not read results;
    - the finals of the store at `now` are the whole store's finals that ended by `now`, a
      prefix of them in order of end: the league's home margin of a game starting at or after
      `now` is the whole store's margin after the last of them, and a team's latest final is
      its latest that ended by `now`.
    A test compares it with `game_context` of the store at `now`."""

    def __init__(self, games: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig) -> None:
        tg, names = team_games_with_results(games, cfg, league, elo=False)
        self.n = len(games)
        self.positions = pd.Series(np.arange(self.n), index=games.index)
        self.prior = cfg.league_home.prior_points
        margins = home_margin_states(tg, cfg.league_home)
        self.margin_ends = margins["state_end"].to_numpy(dtype="datetime64[us]")
        self.margins = margins["league_home_margin"].to_numpy()
        self.ends = final_ends(tg)
        schedule = ["season", "rest_days", "back_to_back", "season_progress"]
        self.rows = tg[["team", "game", "start_time", *schedule]]
        self.names = names
        self.game_ids = games["game_id"].to_numpy()

    def at(self, games: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """The context of `games` (rows of the store, each starting at or after `now`) as the
        store at `now` gives it: indexed by (game_id, team), as `game_context`."""
        stamp = pd.Timestamp(now)
        position = self.positions.loc[games.index].to_numpy()
        rows = self.rows.iloc[np.concatenate([position, position + self.n])]
        if (rows["start_time"] < stamp).any():
            raise ValueError(f"a game that starts before {stamp} has no context as of then")
        last = np.searchsorted(self.margin_ends, stamp.as_unit("us").to_datetime64(), "right") - 1
        margin = self.margins[last] if last >= 0 else np.nan
        joined = pd.merge_asof(
            rows.sort_values("start_time", kind="stable").assign(
                league_home_margin=self.prior if np.isnan(margin) else margin,
                as_of=stamp.as_unit("us"),
            ),
            self.ends,
            left_on="as_of",
            right_on="end_time",
            by="team",
            allow_exact_matches=True,
        )
        return keyed_context(joined, self.names, self.game_ids)
