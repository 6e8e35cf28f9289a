"""Metrics on tiny hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.model.metrics import (
    accuracy,
    auc,
    betting_metrics,
    betting_results,
    brier,
    expected_calibration_error,
    family_scores,
    implied_probability,
    log_loss,
    market_probability,
    reliability_curve,
    scores,
    scores_by,
    segment_table,
)

Y = np.array([1.0, 0.0, 1.0, 1.0])
P = np.array([0.8, 0.4, 0.6, 0.3])


def test_log_loss_and_brier_by_hand() -> None:
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.6) + math.log(0.3)) / 4
    assert log_loss(Y, P) == pytest.approx(expected)
    assert brier(Y, P) == pytest.approx((0.04 + 0.16 + 0.16 + 0.49) / 4)


def test_missing_labels_are_ignored() -> None:
    y = np.append(Y, np.nan)  # a tie or an unplayed game
    p = np.append(P, 0.9)
    assert log_loss(y, p) == pytest.approx(log_loss(Y, P))
    assert scores(y, p)["games"] == 4


def test_accuracy_and_auc() -> None:
    assert accuracy(Y, P) == pytest.approx(0.75)  # 0.3 for a home win is the miss
    # pairs (win, loss): (0.8>0.4), (0.6>0.4), (0.3<0.4) -> 2 of 3
    assert auc(Y, P) == pytest.approx(2 / 3)
    assert math.isnan(auc(np.ones(3), np.array([0.1, 0.5, 0.9])))


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_calibration_agree_with_independent_implementations(seed: int) -> None:
    """AUC against scikit-learn's ROC area, the calibration error against a bin-by-bin loop,
    on predictions with many ties and missing values."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500).astype(float)
    p = np.round(rng.random(500), 1 + seed % 2)  # ties in every bin
    p[rng.random(500) < 0.05] = np.nan
    keep = ~np.isnan(p)
    assert auc(y, p) == pytest.approx(roc_auc_score(y[keep], p[keep]), abs=1e-12)
    for bins in (3, 10):
        index = np.minimum((p[keep] * bins).astype(int), bins - 1)
        gaps = [
            abs(y[keep][index == b].mean() - p[keep][index == b].mean()) * (index == b).sum()
            for b in range(bins)
            if (index == b).any()
        ]
        expected = sum(gaps) / keep.sum()
        assert expected_calibration_error(y, p, bins) == pytest.approx(expected, abs=1e-12)
        assert scores(y, p, bins)["ece"] == expected_calibration_error(y, p, bins)


def test_calibration_error_and_curve() -> None:
    y = np.array([1, 0, 1, 0, 1, 1, 1, 1], dtype=float)
    p = np.array([0.55] * 4 + [0.95] * 4)
    curve = reliability_curve(y, p, bins=10)
    assert curve["games"].tolist() == [4, 4]
    assert curve["y_rate"].tolist() == [0.5, 1.0]
    assert expected_calibration_error(y, p, bins=10) == pytest.approx((0.05 + 0.05) / 2)
    perfect = np.array([0.0, 1.0])
    assert expected_calibration_error(perfect, perfect) == pytest.approx(0.0)


@pytest.mark.parametrize(("line", "prob"), [(-150, 0.6), (150, 0.4), (100, 0.5), (-100, 0.5)])
def test_implied_probability(line: float, prob: float) -> None:
    assert implied_probability(np.array([line]))[0] == pytest.approx(prob)


def test_market_probability_removes_the_margin() -> None:
    p = market_probability(np.array([-110.0, -150.0, np.nan]), np.array([-110.0, 130.0, 120.0]))
    assert p[0] == pytest.approx(0.5)
    assert p[1] == pytest.approx(0.6 / (0.6 + 100 / 230))
    assert math.isnan(p[2])


def test_betting_rule_profit_roi_and_drawdown() -> None:
    y = np.array([1.0, 0.0, 0.0, 1.0])
    p = np.array([0.70, 0.70, 0.20, 0.52])  # market is 0.5 everywhere
    home_ml = np.full(4, 100.0)
    away_ml = np.full(4, 100.0)
    result = betting_results(y, p, home_ml, away_ml, edge=0.05)
    # bets: home win (+1), home loss (-1), away bet on game 3 wins (+1); game 4 edge 0.02: none
    assert result.bets == 3
    assert result.profit == pytest.approx(1.0)
    assert result.roi == pytest.approx(1 / 3)
    assert result.max_drawdown == pytest.approx(1.0)
    assert result.games_with_odds == 4


def oof_frame() -> pd.DataFrame:
    """Four games, two with moneylines; the market and the market variant only on those."""
    return pd.DataFrame(
        {
            "home_win": Y,
            "season": [2020, 2020, 2021, 2021],
            "event_timestamp": pd.date_range("2021-01-01", periods=4, freq="D", tz="UTC"),
            "p_blend": P,
            "p_elo": [0.7, 0.6, 0.4, 0.45],
            "p_market": [0.6, np.nan, 0.5, np.nan],
            "home_ml": [-150.0, np.nan, 100.0, np.nan],
            "away_ml": [130.0, np.nan, -120.0, np.nan],
            "playoff": [False, False, False, True],
            "home_back_to_back": [1.0, 0.0, 0.0, 1.0],
            "away_back_to_back": [0.0, 0.0, 1.0, 1.0],
        }
    )


def test_family_scores_compare_models_and_market_on_the_same_priced_games() -> None:
    metrics = family_scores(oof_frame())
    assert metrics["games"] == 4 and metrics["priced_games"] == 2
    assert metrics["market_games"] == 2 and "blend_games" not in metrics
    assert metrics["blend_log_loss"] == pytest.approx(log_loss(Y, P))
    assert metrics["blend_log_loss_priced"] == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert metrics["market_log_loss_priced"] == pytest.approx(-(math.log(0.6) + math.log(0.5)) / 2)


def test_betting_metrics_per_column() -> None:
    metrics = betting_metrics(oof_frame(), ["p_blend"], edge=0.05)
    # Game 1: 0.8 vs market 0.6 -> home bet at -150 wins 2/3; game 3: 0.6 vs 0.5 -> home bet
    # at +100 wins 1. Games 2 and 4 have no price.
    assert metrics["blend_bet_count"] == 2
    assert metrics["blend_bet_profit"] == pytest.approx(2 / 3 + 1)
    assert metrics["blend_bet_roi"] == pytest.approx((2 / 3 + 1) / 2)
    assert metrics["blend_bet_max_drawdown"] == 0


def test_segment_table() -> None:
    table = segment_table(oof_frame(), ["p_blend"]).set_index(["segment", "value"])
    assert table.loc[("season", "2020"), "games"] == 2
    assert table.loc[("season", "2020"), "log_loss"] == pytest.approx(
        -(math.log(0.8) + math.log(0.6)) / 2
    )
    # Favourite by the market where priced (games 1, 3), else by Elo (2 yes, 4 no).
    assert table.loc[("home_side", "favourite"), "games"] == 3
    assert table.loc[("home_side", "underdog"), "games"] == 1
    assert table.loc[("back_to_back", "both"), "games"] == 1
    assert table.loc[("back_to_back", "home"), "games"] == 1
    assert table.loc[("stage", "playoff"), "games"] == 1


def test_scores_by_season_when_only_some_seasons_have_odds() -> None:
    frame = oof_frame()
    frame.loc[frame["season"] == 2021, "p_market"] = np.nan
    table = scores_by(frame, "season")
    assert table.index.tolist() == [2020, 2021]
    assert table.loc[2020, "market_log_loss"] == pytest.approx(-math.log(0.6))
    assert np.isnan(table.loc[2021, "market_log_loss"])
    assert table["blend_log_loss"].notna().all()


def vig_free_home(home: float, away: float) -> float:
    """The home side's probability of an American moneyline pair, margin removed, by hand."""

    def implied(line: float) -> float:
        return -line / (-line + 100) if line < 0 else 100 / (line + 100)

    return implied(home) / (implied(home) + implied(away))


def test_closing_line_value_by_hand() -> None:
    """Game 1: the model (0.60) beats the opening home price (+150) and the line moves its way
    (+120 at the close): a home bet, positive CLV, won. Game 2: the model (0.20) likes the away
    side at +170, the close moves away from it (+210): an away bet, negative CLV, lost. Game 3
    has no opening line: no bet."""
    from gameline.tasks.model.metrics import closing_line_value, clv_metrics

    frame = pd.DataFrame(
        {
            "home_win": [1.0, 1.0, 0.0],
            "p_model": [0.60, 0.20, 0.50],
            "home_ml_open": [150.0, -200.0, np.nan],
            "away_ml_open": [-170.0, 170.0, np.nan],
            "home_ml": [120.0, -250.0, -110.0],
            "away_ml": [-140.0, 210.0, -110.0],
        }
    )
    clv_home = (1 + 1.5) * vig_free_home(120, -140) - 1  # decimal odds taken x fair close - 1
    clv_away = (1 + 1.7) * (1 - vig_free_home(-250, 210)) - 1
    assert clv_home > 0 > clv_away
    result = closing_line_value(
        frame["home_win"].to_numpy(),
        frame["p_model"].to_numpy(),
        (frame["home_ml_open"].to_numpy(), frame["away_ml_open"].to_numpy()),
        (frame["home_ml"].to_numpy(), frame["away_ml"].to_numpy()),
        edge=0.02,
    )
    assert (result.games_with_both_lines, result.bets) == (2, 2)
    assert result.mean_clv == pytest.approx((clv_home + clv_away) / 2)
    assert result.beat_close_share == 0.5
    assert result.roi == pytest.approx((1.5 - 1.0) / 2)  # +1.5 units won, 1 unit lost
    metrics = clv_metrics(frame, ["p_model"], edge=0.02)
    assert metrics["model_clv_bets"] == 2 and metrics["both_lines_games"] == 2
    assert metrics["model_clv_mean"] == pytest.approx(result.mean_clv)
    assert metrics["model_clv_beat_share"] == 0.5
    assert metrics["model_clv_open_roi"] == pytest.approx(0.25)
    opening = [vig_free_home(150, -170), vig_free_home(-200, 170)]
    closing = [vig_free_home(120, -140), vig_free_home(-250, 210)]
    assert metrics["market_open_log_loss_both_lines"] == pytest.approx(-np.mean(np.log(opening)))
    assert metrics["market_close_log_loss_both_lines"] == pytest.approx(-np.mean(np.log(closing)))
    no_opening = frame.assign(home_ml_open=np.nan, away_ml_open=np.nan)
    assert clv_metrics(no_opening, ["p_model"], edge=0.02) == {}
