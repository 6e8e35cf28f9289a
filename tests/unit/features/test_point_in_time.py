"""Feast's point-in-time join on the parquet, on inline frames."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from gameline.tasks.features.point_in_time import point_in_time_join


def test_a_value_stamped_after_the_game_never_reaches_it_team_or_game_keyed() -> None:
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
    facts = pd.DataFrame(
        {
            "game_id": ["g", "g", "other"],
            "event_timestamp": [
                start - pd.Timedelta(hours=5),
                start + pd.Timedelta(seconds=1),
                start,
            ],
            "spread": [-3.5, -7.0, 2.0],
        }
    )
    tables = {"team_state": features, "lines": facts}
    projections = [
        ("home", "team_state", "home_team", ["elo_pre"]),
        ("away", "team_state", "away_team", ["elo_pre"]),
        ("game_lines", "lines", "game_id", ["spread"]),
    ]
    row = point_in_time_join(entities, tables, projections, timedelta(days=30)).iloc[0]
    assert row["home__elo_pre"] == 1500.0  # the row stamped at the start, not the later one
    assert row["away__elo_pre"] == 1400.0
    assert row["game__spread"] == -3.5  # the game's own fact known before it, not the later one
    expired = point_in_time_join(entities, tables, projections, timedelta(days=1)).iloc[0]
    assert pd.isna(expired["away__elo_pre"])  # older than the TTL
