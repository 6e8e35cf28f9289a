"""Batch serving to the letter: the predictions table's every column, the upcoming window's
bounds, the next game day in the league's own time zone, a stable A/B hash, a served model
predicting through its own model, results only from final games (mutation testing found these
unpinned)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from gameline.tasks.serving.predict import (
    ServedModel,
    ab_bucket,
    served_predictions,
    upcoming_games,
)
from gameline.tasks.serving.predictions import (
    arm_outcomes,
    latest_predictions,
    served_results,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TABLE_COLUMNS = [
    "game_id", "start_time", "home_team", "away_team", "p_home", "served_by", "model_name",
    "model_version", "p_champion", "champion_version", "p_challenger", "challenger_version",
    "home_spread", "total_line", "fair_spread", "fair_total", "p_cover", "p_push_spread",
    "p_over", "p_push_total", "home_feature_ts", "away_feature_ts", "features_match_game",
    "features_stale",
    "results_until", "results_age_h", "predicted_at", "feature_source", "missing_features",
]  # fmt: skip


def scored(n: int = 2) -> pd.DataFrame:
    start = pd.Timestamp(NOW) + pd.Timedelta(hours=5)
    return pd.DataFrame(
        {
            "game_id": [f"g{i}" for i in range(n)],
            "event_timestamp": [start] * n,
            "home_team": ["A", "B"][:n],
            "away_team": ["C", "D"][:n],
            "p_champion": [0.6, 0.7][:n],
            "p_challenger": [np.nan] * n,
            "home_feature_ts": [pd.Timestamp(NOW)] * n,
            "away_feature_ts": [pd.Timestamp(NOW) - pd.Timedelta(hours=1)] * n,
            "feature_time_matches_game": [True, False][:n],
            "stale": [False, True][:n],
        }
    )


def test_the_predictions_table_has_every_column_with_its_values() -> None:
    rows = scored()
    table = served_predictions(rows, "gameline-x", ServedModel("3", None, []), None, 0.0, NOW, None)
    assert list(table.columns) == TABLE_COLUMNS
    first = table.iloc[0]
    assert first["start_time"] == rows["event_timestamp"].iloc[0]
    assert (first["home_team"], first["away_team"]) == ("A", "C")
    assert first["model_name"] == "gameline-x" and first["model_version"] == "3"
    assert first["p_champion"] == 0.6 and np.isnan(first["p_challenger"])
    assert first["challenger_version"] is None
    assert first["home_feature_ts"] == pd.Timestamp(NOW)
    assert first["away_feature_ts"] == pd.Timestamp(NOW) - pd.Timedelta(hours=1)
    assert list(table["features_match_game"]) == [True, False]
    assert list(table["features_stale"]) == [False, True]
    assert table["results_until"].isna().all()  # no result known yet: NaT, not now
    assert list(table["missing_features"]) == [None, None]


def test_a_served_model_predicts_with_its_own_model_on_its_features() -> None:
    class Half:
        def predict(self, frame: pd.DataFrame) -> list[float]:
            return [0.25] * len(frame)

    model = ServedModel("5", Half(), ["elo_pre"])
    rows = pd.DataFrame({"home__elo_pre": [1500.0], "away__elo_pre": [1490.0], "neutral": [False]})
    assert model.model is not None and model.predict(rows).tolist() == [0.25]


def schedule(hours: list[float], status: str = "scheduled") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "game_id": [f"g{i}" for i in range(len(hours))],
            "status": [status] * len(hours),
            "start_time": [pd.Timestamp(NOW) + pd.Timedelta(hours=h) for h in hours],
        }
    )


def test_the_upcoming_window_includes_now_and_excludes_its_end() -> None:
    chosen = upcoming_games(schedule([0, 10, 36]), NOW, horizon_hours=36)
    assert list(chosen["game_id"]) == ["g0", "g1"]


def test_the_next_game_day_is_the_leagues_local_date() -> None:
    """No game in the horizon: the next game day's games, by the league's calendar. Starts
    at 23:30 and 01:00 New York time the next day are two days there but one UTC date."""
    base = pd.Timestamp("2026-11-26 04:30", tz="UTC")  # 23:30 in New York on the 25th
    games = pd.DataFrame(
        {
            "game_id": ["late", "after-midnight", "next-evening"],
            "status": ["scheduled"] * 3,
            "start_time": [base, base + pd.Timedelta(hours=1, minutes=30),
                           base + pd.Timedelta(hours=20)],
        }
    )  # fmt: skip
    chosen = upcoming_games(games, NOW, horizon_hours=1, timezone="America/New_York")
    assert list(chosen["game_id"]) == ["late"]
    assert list(upcoming_games(games, NOW, 1)["game_id"]) == ["late", "after-midnight"]  # UTC


def test_the_ab_bucket_is_pinned() -> None:
    """The same game lands in the same arm in every run and release: the first 8 bytes of its
    SHA-256, big-endian, modulo 10,000."""
    assert ab_bucket("NBA-20240115-bos-lal-1") == 9241
    assert ab_bucket("g0") == 4362


def predictions(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """(game, served_by, p_home, predicted at)."""
    return pd.DataFrame(
        {
            "game_id": [r[0] for r in rows],
            "start_time": [pd.Timestamp(NOW)] * len(rows),
            "served_by": [r[1] for r in rows],
            "p_home": [r[2] for r in rows],
            "p_champion": [r[2] for r in rows],
            "p_challenger": [np.nan] * len(rows),
            "predicted_at": pd.to_datetime([r[3] for r in rows], utc=True),
        }
    )


def test_the_latest_prediction_of_a_game_wins_and_a_tie_goes_to_the_later_row() -> None:
    table = predictions(
        [("g1", "champion", 0.6, "2026-11-22"), ("g1", "champion", 0.7, "2026-11-23"),
         ("g2", "champion", 0.4, "2026-11-23"), ("g2", "champion", 0.45, "2026-11-23")]
    )  # fmt: skip
    latest = latest_predictions(table).set_index("game_id")["p_home"]
    assert latest.to_dict() == {"g1": 0.7, "g2": 0.45}


def test_results_come_only_from_final_games() -> None:
    table = predictions(
        [("g1", "champion", 0.6, "2026-11-22"), ("g2", "challenger", 0.3, "2026-11-22")]
    )
    games = pd.DataFrame(
        {
            "game_id": ["g1", "g2"],
            "status": ["final", "scheduled"],
            "home_score": [100.0, np.nan],
            "away_score": [90.0, np.nan],
        }
    )
    served = served_results(table, games).set_index("game_id")["y"]
    assert served["g1"] == 1.0 and np.isnan(served["g2"]) and served.dtype == float
    nothing = served_results(table, pd.DataFrame())
    assert nothing["y"].dtype == float and nothing["y"].isna().all()
    arms = arm_outcomes(table, games)  # the challenger's game is not final: no arm for it
    assert list(arms["arm"]) == ["champion"] and arms["games"].tolist() == [1]
