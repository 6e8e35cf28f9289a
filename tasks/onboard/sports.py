"""What depends on the sport: Elo settings, score bounds, form windows, game length; the sport
a scoring level points to; the Elo K factor tuned on the seasons walk-forward only trains on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gameline.tasks.config import EloConfig, FeaturesConfig, LeagueConfig
from gameline.tasks.model.metrics import log_loss
from gameline.tasks.onboard.seasons import first_test_season


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
        name="basketball",
        mov_multiplier="fivethirtyeight_nba",
        k=20,
        home_advantage=100,
        carryover=0.75,
        home_margin_prior=3.0,
        max_score=250,
        windows=[5, 10, 20],
        split_window=10,
        max_rest_days=7,
        duration_hours=2.5,
        why="margins of points: FiveThirtyEight's NBA multiplier ((|margin|+3)^0.8)",
    ),
    "football": Sport(
        name="football",
        mov_multiplier="fivethirtyeight_nfl",
        k=20,
        home_advantage=48,
        carryover=0.67,
        home_margin_prior=2.0,
        max_score=120,
        windows=[4, 8, 16],
        split_window=8,
        max_rest_days=14,
        duration_hours=3.25,
        why="margins of points in scores of touchdowns: FiveThirtyEight's NFL multiplier "
        "(ln(|margin|+1))",
    ),
    "baseball": Sport(
        name="baseball",
        mov_multiplier="fivethirtyeight_nhl",
        k=4,
        home_advantage=24,
        carryover=0.67,
        home_margin_prior=0.2,
        max_score=50,
        windows=[10, 20, 40],
        split_window=20,
        max_rest_days=5,
        duration_hours=3.0,
        why="margins of a few runs: the log goal/run multiplier (a 1-run game 0.8, 3 runs 1.5)",
    ),
    "hockey": Sport(
        name="hockey",
        mov_multiplier="fivethirtyeight_nhl",
        k=6,
        home_advantage=50,
        carryover=0.7,
        home_margin_prior=0.25,
        max_score=25,
        windows=[5, 10, 20],
        split_window=10,
        max_rest_days=7,
        duration_hours=2.75,
        why="margins of goals: FiveThirtyEight's NHL multiplier (0.67 ln|margin| + 0.80)",
    ),
    "soccer": Sport(
        name="soccer",
        mov_multiplier="fivethirtyeight_nhl",
        k=20,
        home_advantage=70,
        carryover=0.8,
        home_margin_prior=0.35,
        max_score=20,
        windows=[5, 10, 19],
        split_window=5,
        max_rest_days=14,
        duration_hours=2.0,
        why="margins of one or two goals and many draws: the log goal multiplier",
    ),
}


# A file that says who won but not the score: Elo from wins and losses alone (no margin of
# victory), form from win shares, no score to bound.
WINNER_ONLY = Sport(
    name="results only",
    mov_multiplier="none",
    k=20,
    home_advantage=60,
    carryover=0.75,
    home_margin_prior=0.0,
    max_score=1000,
    windows=[5, 10, 20],
    split_window=10,
    max_rest_days=7,
    duration_hours=3.0,
    why="who won, without scores: Elo from wins and losses, no margin of victory",
)


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
    p = 1 / (1 + 10 ** (-diff / 400))
    y = home_win(scored["home_score"], scored["away_score"], scored.get("home_won"))
    first = scored["season"].min() + 1 if scored_from is None else scored_from
    later = scored["season"].to_numpy() >= first
    return log_loss(y[later], p[later])  # undecided games (no label) are left out


Progress = Callable[[str, int, int], None]  # (what, done, total)


def tune_k(
    games: pd.DataFrame,
    league: LeagueConfig,
    sport: Sport,
    seasons: list[int],
    progress: Progress | None = None,
) -> KTuning | None:
    """K from a grid around the sport's, by Elo log loss on the seasons before walk-forward's
    first test season (so the tests stay unseen); None with fewer than two such seasons.
    `progress` hears of each K tried."""
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
    losses: dict[float, float] = {}
    for step in K_STEPS:
        if progress:
            progress(f"tuning Elo's K ({sport.k * step:g})", len(losses), len(K_STEPS))
        losses[step] = elo_log_loss(train, league, elo.model_copy(update={"k": sport.k * step}))
    if progress:
        progress("tuning Elo's K", len(losses), len(K_STEPS))
    best = min(losses, key=losses.__getitem__)
    used = sorted(int(x) for x in train["season"].unique())
    return KTuning(
        k=round(sport.k * best, 2),
        loss=losses[best],
        default_loss=losses[1.0],
        seasons=f"{used[0]}-{used[-1]}",
    )
