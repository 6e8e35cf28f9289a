"""Upcoming games, prediction rounds and the A/B split, on small inline frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.serving.predict import (
    ab_bucket,
    challenger_serves,
    nothing_to_score,
    upcoming_games,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def games(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(home, away, status, hours from NOW)."""
    return pd.DataFrame(
        {
            "game_id": [f"g{i}" for i in range(len(rows))],
            "home_team": [r[0] for r in rows],
            "away_team": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "start_time": [pd.Timestamp(NOW) + pd.Timedelta(hours=r[3]) for r in rows],
        }
    )


def test_upcoming_games_are_scheduled_and_inside_the_horizon() -> None:
    frame = games(
        [
            ("A", "B", "scheduled", 30),
            ("C", "D", "scheduled", 2),
            ("E", "F", "final", 1),
            ("A", "C", "scheduled", -1),  # started already
            ("B", "D", "scheduled", 40),  # beyond 36 h
        ]
    )
    assert upcoming_games(frame, NOW, 36)["game_id"].tolist() == ["g1", "g0"]


def test_after_a_day_without_games_the_next_game_day_is_scored() -> None:
    frame = games(
        [
            ("A", "B", "scheduled", 50),  # none inside 36 h...
            ("C", "D", "scheduled", 52),  # ...so the next game day: both of these
            ("E", "F", "scheduled", 80),  # the day after: not yet
        ]
    )
    assert upcoming_games(frame, NOW, 36)["game_id"].tolist() == ["g0", "g1"]
    assert upcoming_games(frame.iloc[:0], NOW, 36).empty
    assert nothing_to_score(frame.iloc[:0], NOW).startswith("the game store holds no scheduled")
    assert nothing_to_score(frame, NOW + timedelta(days=9)) == (
        "no scheduled game starts after 2026-12-02 12:00 UTC"
    )


@pytest.mark.parametrize("hour", [1, 9, 15, 23])
def test_the_simulated_league_has_games_to_score_whatever_the_hour(hour: int) -> None:
    """The demo's league and predict agree on "now" (the simulator's clock), and there is a
    next game day to score at any hour of the day."""
    from gameline.tasks.config import load_config
    from gameline.tasks.data.simulator import simulate_games
    from gameline.tasks.data.sources import league_now
    from tests.builders import CONFIGS

    as_of = datetime(2026, 11, 23, hour, 30, tzinfo=UTC)
    config = load_config(
        CONFIGS / "default.yaml",
        environ={},
        overrides={"source": {"simulator": {"as_of": as_of.isoformat()}}},
    )
    now = league_now(config)
    assert now == as_of
    league = simulate_games(config.source.simulator, config.league)
    upcoming = upcoming_games(league, now, config.predict.horizon_hours, config.league.timezone)
    assert len(upcoming) > 0 and (upcoming["start_time"] >= now).all()


def test_ab_split_is_stable_and_close_to_the_share() -> None:
    ids = pd.Series([f"NBA-2026{i:05d}-x-y-1" for i in range(20_000)])
    arm = challenger_serves(ids, 0.2)
    assert abs(arm.mean() - 0.2) < 0.01
    assert (challenger_serves(ids, 0.2) == arm).all()  # the same game, the same arm
    assert not challenger_serves(ids, 0.0).any() and challenger_serves(ids, 1.0).all()
    # Growing the share only adds games to the challenger's arm.
    assert (challenger_serves(ids, 0.5) | ~arm).all()
    assert ab_bucket("NBA-20261123-bos-lal-1") == ab_bucket("NBA-20261123-bos-lal-1")
    assert np.unique([ab_bucket(i) for i in ids[:1000]]).size > 900
