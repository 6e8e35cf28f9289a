"""Feast's point-in-time join on the parquet, on inline frames."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from gameline.tasks.features.point_in_time import point_in_time_join


def test_a_value_stamped_after_the_game_never_reaches_it() -> None:
    start = pd.Timestamp("2025-01-10 00:00", tz="UTC")
    entities = pd.DataFrame(
        {"game_id": ["g"], "home_team": ["A"], "away_team": ["B"], "event_timestamp": [start]}
    )
    features = pd.DataFrame(
        {
            "team": ["A", "A", "B"],
            "event_timestamp": [
                start,
                start + pd.Timedelta(seconds=1),
                start - pd.Timedelta(days=3),
            ],
            "elo_pre": [1500.0, 9999.0, 1400.0],
        }
    )
    projections = [("home", "home_team", ["elo_pre"]), ("away", "away_team", ["elo_pre"])]
    row = point_in_time_join(entities, features, projections, timedelta(days=30)).iloc[0]
    assert row["home__elo_pre"] == 1500.0  # the row stamped at the start, not the later one
    assert row["away__elo_pre"] == 1400.0
    expired = point_in_time_join(entities, features, projections, timedelta(days=1)).iloc[0]
    assert pd.isna(expired["away__elo_pre"])  # older than the TTL
