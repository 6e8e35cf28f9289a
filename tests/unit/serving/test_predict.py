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


def test_served_rows_take_each_arms_probability_and_say_where_it_came_from() -> None:
    """The predictions table's rows: the challenger's probability where the A/B hash gives it
    the game, the champion's elsewhere, both beside it; versions, feature times and ages."""
    from gameline.tasks.serving.predict import ServedModel, served_predictions

    ids = [f"g{i}" for i in range(8)]
    arm = challenger_serves(pd.Series(ids), 0.5)
    assert 0 < arm.sum() < len(ids)  # both arms serve some of these games
    start = pd.Timestamp(NOW) + pd.Timedelta(hours=5)
    scored = pd.DataFrame(
        {
            "game_id": ids,
            "event_timestamp": [start] * 8,
            "home_team": list("ABCDEFGH"),
            "away_team": list("HGFEDCBA"),
            "p_champion": np.linspace(0.2, 0.9, 8),
            "p_challenger": np.linspace(0.3, 0.6, 8),
            "home_feature_ts": [pd.Timestamp(NOW)] * 8,
            "away_feature_ts": [pd.Timestamp(NOW)] * 8,
            "feature_time_matches_game": [True] * 8,
            "stale": [False] * 8,
        }
    )
    until = NOW - timedelta(hours=6)
    champion, challenger = ServedModel("3", None, []), ServedModel("4", None, [])
    table = served_predictions(
        scored, "m", champion, challenger, 0.5, NOW, until, "offline"
    ).set_index("game_id")
    expected = np.where(arm, scored["p_challenger"], scored["p_champion"])
    np.testing.assert_array_equal(table["p_home"], expected)
    assert (table["served_by"] == np.where(arm, "challenger", "champion")).all()
    assert (table["model_version"] == np.where(arm, "4", "3")).all()
    assert (table["champion_version"] == "3").all() and (table["challenger_version"] == "4").all()
    assert (table["home_team"] == list("ABCDEFGH")).all()
    assert (table["results_age_h"] == 6.0).all() and (table["feature_source"] == "offline").all()
    assert (table["predicted_at"] == pd.Timestamp(NOW)).all()
    assert (table["results_until"] == pd.Timestamp(until)).all()
    alone = served_predictions(scored, "m", champion, None, 0.5, NOW, None)
    assert (alone["served_by"] == "champion").all() and alone["results_age_h"].isna().all()
    assert (alone["feature_source"] == "online").all()


def test_arm_outcomes_score_each_arm_on_its_latest_finished_games_by_hand() -> None:
    from gameline.tasks.serving.predictions import arm_outcomes

    predictions = pd.DataFrame(
        {
            "game_id": ["a", "a", "b", "c", "d"],
            "start_time": [pd.Timestamp(NOW)] * 5,
            "predicted_at": [pd.Timestamp(NOW) + pd.Timedelta(minutes=m) for m in (0, 5, 0, 0, 0)],
            "served_by": ["champion", "champion", "challenger", "champion", "champion"],
            "p_home": [0.1, 0.8, 0.6, 0.3, 0.5],  # a's first prediction is superseded
            "p_champion": [0.1, 0.8, 0.7, 0.3, 0.5],
            "p_challenger": [np.nan, np.nan, 0.6, np.nan, np.nan],
        }
    )
    results = pd.DataFrame(
        {
            "game_id": ["a", "b", "c", "d"],
            "status": ["final", "final", "final", "scheduled"],  # d is not over
            "home_score": [100, 90, 80, None],
            "away_score": [90, 95, 85, None],
        }
    )
    arms = arm_outcomes(predictions, results).set_index("arm")
    champion, challenger = arms.loc["champion"], arms.loc["challenger"]
    # champion arm: a (home won, p 0.8) and c (home lost, p 0.3)
    assert champion["games"] == 2
    assert champion["served_log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.7)) / 2)
    assert np.isnan(champion["challenger_log_loss"])
    # challenger arm: b (home lost, served 0.6, champion 0.7)
    assert challenger["games"] == 1
    assert challenger["served_log_loss"] == pytest.approx(-np.log(0.4))
    assert challenger["champion_log_loss"] == pytest.approx(-np.log(0.3))
    assert challenger["challenger_log_loss"] == pytest.approx(-np.log(0.4))
    assert arm_outcomes(predictions.iloc[:0], results).empty


def test_a_sourced_feature_missing_for_a_game_is_named_not_filled() -> None:
    from gameline.tasks.serving.predict import missing_features

    rows = pd.DataFrame(
        {
            "home__elo_pre": [np.nan, 1500.0],  # a built-in feature may be NaN (a new team)
            "away__elo_pre": [1500.0, 1500.0],
            "home__star_out": [1.0, np.nan],
            "away__star_out": [0.0, 0.0],
            "game__ml_home": [np.nan, 0.3],
        }
    )
    features = ["elo_pre", "team__star_out", "game__ml_home"]
    assert missing_features(rows, features) == ["game__ml_home", "team__star_out"]
    assert missing_features(rows.fillna(0.0), features) == [None, None]
    both = rows.assign(game__ml_home=[np.nan, np.nan])
    assert missing_features(both, features) == ["game__ml_home", "team__star_out, game__ml_home"]
