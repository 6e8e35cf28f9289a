"""Files that say who won but not the score: the result is read, validated, labelled, and
Elo learns from it without a margin of victory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gameline.tasks.config import FeaturesConfig, GamelineConfig, LeagueConfig
from gameline.tasks.contracts import conform, home_win
from gameline.tasks.data.sources import read_contract_file
from gameline.tasks.data.validate import validate_games
from gameline.tasks.features.team import team_features

LEAGUE = LeagueConfig(name="WHL", timezone="UTC", default_start_local="19:00")


def test_winner_columns_are_read_as_who_won(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text(
        "start_time,home_team,away_team,winner\n"
        "2025-01-01,AAA,BBB,AAA\n"
        "2025-01-02,BBB,AAA,AAA\n"
        "2025-01-03,AAA,BBB,\n"
        "2025-01-04,AAA,BBB,CCC\n"
    )
    games = read_contract_file(path, LEAGUE)
    assert games["home_won"].tolist()[:2] == [True, False]
    assert pd.isna(games["home_won"].iloc[2]) and pd.isna(games["home_won"].iloc[3])
    assert games["status"].tolist()[:3] == ["final", "final", "scheduled"]
    assert "winner=CCC is not a result" in games["parse_error"].iloc[3]
    flags = tmp_path / "flags.csv"
    flags.write_text(
        "start_time,home_team,away_team,home_won\n2025-01-01,A,B,away\n2025-01-02,A,B,1\n"
    )
    assert read_contract_file(flags, LEAGUE)["home_won"].tolist() == [False, True]


def test_the_label_comes_from_the_scores_else_from_who_won() -> None:
    label = home_win(
        pd.Series([100.0, np.nan, np.nan, 90.0]),
        pd.Series([90.0, np.nan, np.nan, 90.0]),
        pd.Series([pd.NA, True, False, pd.NA], dtype="boolean"),
    )
    assert label[:3].tolist() == [1.0, 1.0, 0.0] and np.isnan(label[3])


def test_validation_keeps_winner_only_finals_and_refuses_a_contradiction(
    sim_config: Callable[..., GamelineConfig],
) -> None:
    config = sim_config(league={"name": "SIM", "teams": ["A", "B", "C", "D"]})
    raw = pd.DataFrame(
        {
            "season": [2025] * 3,
            "start_time": pd.to_datetime(["2025-01-05", "2025-01-06", "2025-01-07"], utc=True),
            "home_team": ["A", "C", "A"],
            "away_team": ["B", "D", "C"],
            "home_score": [np.nan, 100.0, 90.0],
            "away_score": [np.nan, 90.0, np.nan],
            "home_won": pd.array([True, False, True], dtype="boolean"),
        }
    )
    outcome = validate_games(conform(raw, config.league, "t"), config, datetime.now(UTC))
    assert len(outcome.valid) == 1 and bool(outcome.valid["home_won"].iloc[0])
    rules = outcome.rejected.set_index("home_team")["rules"]
    assert "the winner agrees with the scores" in rules["C"]
    assert "final game has both scores" in rules["A"]  # one score and a winner: not a result


def test_elo_learns_from_wins_without_a_margin() -> None:
    starts = pd.date_range("2025-01-01", periods=40, freq="D", tz="UTC")
    raw = pd.DataFrame(
        {
            "season": 2025,
            "start_time": starts,
            "home_team": ["A", "B"] * 20,
            "away_team": ["B", "A"] * 20,
            "home_won": pd.array([True, False] * 20, dtype="boolean"),  # A always wins
        }
    )
    games = conform(raw, LEAGUE, "t")
    features = team_features(games, FeaturesConfig(), LEAGUE)
    last = features[features["event_timestamp"] == starts[-1]].set_index("team")
    assert np.isfinite(features["elo_pre"]).all()
    assert last.loc["A", "elo_pre"] > 1600 > 1400 > last.loc["B", "elo_pre"]
    assert last.loc["A", "win_pct_10"] == 1.0 and last.loc["B", "win_pct_10"] == 0.0
