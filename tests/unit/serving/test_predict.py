"""Upcoming games, prediction rounds and the A/B split, on small inline frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from gameline.tasks.serving.predict import (
    ab_bucket,
    challenger_serves,
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
