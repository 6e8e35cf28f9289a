"""The league simulator: deterministic, NBA-like, upcoming games, optional regime change."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import LeagueConfig, RegimeChange, SimulatorConfig
from gameline.tasks.data.simulator import round_robin, simulate_games, simulate_schedule

AS_OF = datetime.fromisoformat("2026-11-23T00:00:00+00:00")
LEAGUE = LeagueConfig(name="SIM")


@pytest.fixture(scope="module")
def league_games() -> pd.DataFrame:
    return simulate_games(SimulatorConfig(as_of=AS_OF, n_seasons=4), LEAGUE)


def finals(games: pd.DataFrame) -> pd.DataFrame:
    return games[games["status"] == "final"]


def test_same_seed_same_games() -> None:
    cfg = SimulatorConfig(as_of=AS_OF, n_teams=6, n_seasons=1)
    pd.testing.assert_frame_equal(simulate_games(cfg, LEAGUE), simulate_games(cfg, LEAGUE))
    other = simulate_games(cfg.model_copy(update={"seed": 8}), LEAGUE)
    assert not other["home_score"].equals(simulate_games(cfg, LEAGUE)["home_score"])


def test_a_schedule_handed_out_again_is_untouched_by_what_its_last_caller_did() -> None:
    """The last schedule is kept (a daily run asks for it three times): each caller gets its
    own copy, and other settings get their own schedule."""
    cfg = SimulatorConfig(as_of=AS_OF, n_teams=6, n_seasons=1)
    first = simulate_schedule(cfg, LEAGUE)
    expected = first.copy()
    first["home_score"] = -1
    first.drop(first.index[:5], inplace=True)
    pd.testing.assert_frame_equal(simulate_schedule(cfg, LEAGUE), expected)
    assert len(simulate_schedule(cfg.model_copy(update={"n_teams": 8}), LEAGUE)) > len(expected)


def test_a_large_schedule_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A schedule of more games than the daily run's is handed out and forgotten (a benchmark's
    million games would stay in memory for the process's life), and simulated the same again."""
    from gameline.tasks.data import simulator

    cfg = SimulatorConfig(as_of=AS_OF, n_teams=6, n_seasons=2)
    monkeypatch.setattr(simulator, "KEEP_SCHEDULE_GAMES", 10)
    first = simulate_schedule(cfg, LEAGUE)
    assert len(first) > 10 and simulator._LAST_SCHEDULE == []
    pd.testing.assert_frame_equal(simulate_schedule(cfg, LEAGUE), first)


@pytest.mark.parametrize("n_teams", [2, 5, 8, 30])
def test_round_robin_meets_everyone_once_and_balances_home(n_teams: int) -> None:
    rounds = round_robin(n_teams)
    pairs = {frozenset(p) for p in rounds.reshape(-1, 2).tolist()}
    n = n_teams + n_teams % 2
    assert len(pairs) == n * (n - 1) // 2
    home = np.bincount(rounds[..., 0].ravel(), minlength=n)
    assert home.max() - home.min() <= 1


def test_nba_like_results(league_games: pd.DataFrame) -> None:
    done = finals(league_games)
    home_win = (done["home_score"] > done["away_score"]).mean()
    assert 0.56 <= home_win <= 0.62
    margin_sd = (done["home_score"] - done["away_score"]).std()
    assert 11 <= margin_sd <= 17
    assert not (done["home_score"] == done["away_score"]).any()


def test_schedule_has_rest_back_to_backs_and_home_balance(league_games: pd.DataFrame) -> None:
    full = league_games[league_games["season"] < league_games["season"].max()]
    sides = pd.concat(
        [
            full[["season", "start_time"]].assign(team=full["home_team"], home=1),
            full[["season", "start_time"]].assign(team=full["away_team"], home=0),
        ]
    )
    per_team = sides.groupby(["season", "team"])["home"].agg(["sum", "size"])
    assert (per_team["size"] == 82).all()
    assert (per_team["sum"] - 41).abs().max() <= 2
    gaps = sides.sort_values("start_time").groupby("team")["start_time"].diff().dropna()
    days = (gaps.dt.total_seconds() / 86400).round()
    short = (days[days < 30] <= 1).mean()
    assert 0.1 <= short <= 0.3  # back-to-backs are a minority
    assert gaps.min() >= pd.Timedelta(hours=12)


def test_upcoming_games_are_scheduled_without_scores(league_games: pd.DataFrame) -> None:
    upcoming = league_games[league_games["status"] == "scheduled"]
    assert len(upcoming) > 0
    assert upcoming["home_score"].isna().all()
    assert (upcoming["start_time"] < pd.Timestamp(AS_OF) + pd.Timedelta(days=3)).all()
    ended = finals(league_games)["start_time"] + pd.Timedelta(hours=LEAGUE.game_duration_hours)
    assert (ended <= pd.Timestamp(AS_OF)).all()


def test_regime_change_removes_home_edge() -> None:
    start = datetime(2024, 10, 1).date()
    base = SimulatorConfig(as_of=AS_OF, n_seasons=6)
    drifted = base.model_copy(
        update={"regime_change": RegimeChange(start=start, home_advantage_pts=0.0)}
    )
    games = finals(simulate_games(drifted, LEAGUE))
    after = games["start_time"] >= pd.Timestamp(start, tz="UTC")
    win = games["home_score"] > games["away_score"]
    assert win[after].mean() < 0.53 < 0.56 < win[~after].mean()


def test_moneylines_are_american_odds(league_games: pd.DataFrame) -> None:
    odds = league_games[["home_ml", "away_ml"]].astype(float)
    assert (odds.abs() >= 100).all().all()
    implied = odds.apply(lambda o: np.where(o < 0, -o / (100 - o), 100 / (o + 100)))
    overround = implied.sum(axis=1)
    assert overround.between(1.0, 1.1).mean() > 0.95  # a bookmaker margin, never an arbitrage


def test_neutral_site_games_have_no_home_edge() -> None:
    cfg = SimulatorConfig(as_of=AS_OF, n_seasons=6, neutral_share=0.3)
    games = finals(simulate_games(cfg, LEAGUE))
    neutral = games["neutral"].to_numpy(dtype=bool)
    win = (games["home_score"] > games["away_score"]).to_numpy(dtype=bool)
    assert 0.25 < neutral.mean() < 0.35
    assert abs(win[neutral].mean() - 0.5) < 0.04 < win[~neutral].mean() - 0.5
