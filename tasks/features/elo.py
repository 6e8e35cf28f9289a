"""Elo: each team-game's rating after the game, from the league's finals in order (a compiled
loop, the one sequential part of the features), and the rating a team takes into a game."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.config import EloConfig

MOV_KINDS = {
    "none": 0,
    "fivethirtyeight_nba": 1,
    "fivethirtyeight_nfl": 2,
    "fivethirtyeight_nhl": 3,
}


@functools.cache
def _elo_kernel() -> Any:
    """The Elo loop compiled (numba's cache on disk: loaded, not compiled, after the first
    time). numba is imported here, not with this module: about 0.1 s to import and 0.3 s to
    load the cached loop, which a run that builds no Elo (a day that reuses its features)
    never pays."""
    import numba

    return numba.njit(cache=True)(_elo_loop)


def _elo_loop(home, away, season, edge, margin, result, n_teams, k, initial, carry, mov_kind):
    rating = np.full(n_teams, initial)
    last_season = np.full(n_teams, -1)
    post_home = np.empty(home.size)
    post_away = np.empty(home.size)
    for i in range(home.size):
        h, a = home[i], away[i]
        for t in (h, a):
            if last_season[t] != -1 and last_season[t] != season[i]:
                rating[t] = initial + carry * (rating[t] - initial)
            last_season[t] = season[i]
        diff = rating[h] + edge[i] - rating[a]
        expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        winner_diff = diff if result[i] >= 0.5 else -diff
        mult = 1.0
        if np.isnan(margin[i]):  # who won, without the score: Elo without margin of victory
            mult = 1.0
        elif mov_kind == 1:
            mult = (abs(margin[i]) + 3.0) ** 0.8 / (7.5 + 0.006 * winner_diff)
        elif mov_kind == 2:
            mult = np.log(abs(margin[i]) + 1.0) * 2.2 / (winner_diff * 0.001 + 2.2)
        elif mov_kind == 3:  # goals or runs: a one-goal game counts 0.8, a 3-goal one 1.5
            goals = max(abs(margin[i]), 1.0)
            mult = (0.6686 * np.log(goals) + 0.8048) * 2.05 / (winner_diff * 0.001 + 2.05)
        delta = k * mult * (result[i] - expected)
        rating[h] += delta
        rating[a] -= delta
        post_home[i] = rating[h]
        post_away[i] = rating[a]
    return post_home, post_away


def elo_after_games(tg: pd.DataFrame, cfg: EloConfig, home_margin: np.ndarray) -> np.ndarray:
    """Each team-game's Elo rating after that game (NaN for unfinished games).

    `tg` is `team_games` output: rows i (home side) and i + n (away side) are the same game.
    """
    n = len(tg) // 2
    home_side = tg.iloc[:n]
    finals = np.flatnonzero(home_side["final"].to_numpy())
    starts = home_side["start_time"].dt.tz_convert(None).to_numpy()
    order = finals[np.argsort(starts[finals], kind="stable")]
    codes = tg["team"].to_numpy()
    advantage = (
        cfg.elo_per_point * home_margin[order]
        if cfg.home_advantage_mode == "point_in_time"
        else np.full(order.size, cfg.home_advantage)
    )
    edge = np.where(home_side["neutral"].to_numpy()[order], 0.0, advantage)
    post_home, post_away = _elo_kernel()(
        codes[order],
        codes[order + n],
        home_side["season"].to_numpy()[order],
        edge,
        home_side["margin"].to_numpy()[order],
        home_side["win"].to_numpy()[order],
        int(codes.max()) + 1,
        cfg.k,
        cfg.initial,
        cfg.season_carryover,
        MOV_KINDS[cfg.mov_multiplier],
    )
    post = np.full(len(tg), np.nan)
    post[order] = post_home
    post[order + n] = post_away
    return post


def pregame_elo(joined: pd.DataFrame, cfg: EloConfig) -> pd.Series:
    """Elo before the game: the last post-game rating, regressed if a new season began."""
    post = joined["elo_post"]
    carried = cfg.initial + cfg.season_carryover * (post - cfg.initial)
    new_season = joined["state_season"].notna() & (joined["state_season"] != joined["season"])
    return post.where(~new_season, carried).fillna(cfg.initial)
