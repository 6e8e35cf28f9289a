"""The core scores at their edges, against hand values: the bootstrap's interval from every game,
accuracy at 0.5, the reliability curve's last bin, calibration error with other bin counts,
the scores' names, a family without predictions skipped, not the ones after it (mutation
testing found these unpinned)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.model.metrics import (
    accuracy,
    auc,
    expected_calibration_error,
    family_scores,
    paired_bootstrap,
    reliability_curve,
    scores,
)


def test_the_bootstrap_resamples_every_game_and_cuts_equal_tails() -> None:
    diff = np.zeros(50)
    diff[0] = 100.0  # only the first game differs: a resample that skips it has mean 0
    mean, low, high = paired_bootstrap(diff, 4000, 0.9, seed=3)
    assert mean == 2.0 and high > 0
    spread = np.random.default_rng(0).normal(0.0, 1.0, 200)  # means with distinct quantiles
    mean, low, high = paired_bootstrap(spread, 4000, 0.9, seed=3)
    rng = np.random.default_rng(3)  # the oracle: the same draws, the 5% and 95% quantiles
    means = spread[rng.integers(0, 200, size=(4000, 200))].mean(axis=1)
    expected = np.quantile(means, [0.05, 0.95])
    assert (low, high) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    assert mean == pytest.approx(spread.mean())


def test_accuracy_counts_a_coin_flip_as_a_home_pick() -> None:
    assert accuracy(np.array([1.0]), np.array([0.5])) == 1.0
    assert accuracy(np.array([0.0, 1.0]), np.array([0.5, 0.49])) == 0.0


def test_auc_with_one_class_is_nan() -> None:
    assert math.isnan(auc(np.array([1.0, 1.0]), np.array([0.4, 0.6])))
    assert auc(np.array([0.0, 1.0]), np.array([0.4, 0.6])) == 1.0


def test_the_reliability_curve_puts_certainty_in_the_last_bin() -> None:
    curve = reliability_curve(np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.95, 0.85, 0.05]))
    assert curve["bin_low"].tolist() == pytest.approx([0.0, 0.8, 0.9])
    assert curve["games"].tolist() == [1, 1, 2]
    assert curve["p_mean"].tolist() == pytest.approx([0.05, 0.85, 0.975])
    assert curve["y_rate"].tolist() == [0.0, 1.0, 0.5]
    assert list(curve.columns) == ["bin_low", "games", "p_mean", "y_rate"]
    assert curve.index.tolist() == [0, 1, 2]


def test_calibration_error_by_hand_for_any_bin_count() -> None:
    y = np.array([1.0, 0.0, 1.0, 1.0])
    p = np.array([0.2, 0.4, 0.6, 0.8])
    # Two bins: [0, 0.5) holds 0.2 and 0.4 (mean 0.3, won 0.5); [0.5, 1] holds 0.6 and 0.8
    # (mean 0.7, won 1.0): (2 * 0.2 + 2 * 0.3) / 4.
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.25)
    # Ten bins: each game alone: (0.8 + 0.4 + 0.4 + 0.2) / 4.
    assert expected_calibration_error(y, p) == pytest.approx(0.45)
    assert scores(y, p, bins=2)["ece"] == pytest.approx(0.25)
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_the_scores_and_their_names() -> None:
    y = np.array([1.0, 0.0, np.nan, 1.0])
    p = np.array([0.8, 0.3, 0.5, np.nan])  # one game without a label, one without a prediction
    found = scores(y, p)
    assert list(found) == ["games", "log_loss", "brier", "auc", "accuracy", "ece"]
    assert found["games"] == 2.0
    assert found["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert found["brier"] == pytest.approx((0.04 + 0.09) / 2)
    assert (found["auc"], found["accuracy"]) == (1.0, 1.0)


def test_a_family_without_any_prediction_is_skipped_and_the_rest_scored() -> None:
    frame = pd.DataFrame(
        {
            "home_win": [1.0, 0.0, 1.0],
            "p_market": [np.nan, np.nan, np.nan],  # no odds at all
            "p_elo": [0.6, 0.4, 0.7],
        }
    )
    found = family_scores(frame)
    assert "market_log_loss" not in found
    assert found["elo_log_loss"] == pytest.approx(
        -(math.log(0.6) + math.log(0.6) + math.log(0.7)) / 3
    )
    assert found["games"] == 3.0 and found["priced_games"] == 0.0


# Even lines: +100 both ways, a vig-free 0.5 for each side (edges chosen exact in binary).
EVEN = np.array([100.0]), np.array([100.0])


def test_a_bet_exactly_at_the_edge_is_not_placed_and_a_lost_away_bet_costs_one_unit() -> None:
    from gameline.tasks.model.metrics import betting_results

    at_edge = betting_results(np.array([1.0]), np.array([0.75]), *EVEN, edge=0.25)
    assert at_edge.bets == 0 and at_edge.profit == 0.0 and math.isnan(at_edge.roi)
    away_at_edge = betting_results(np.array([1.0]), np.array([0.25]), *EVEN, edge=0.25)
    assert away_at_edge.bets == 0
    lost_away = betting_results(np.array([1.0]), np.array([0.2]), *EVEN, edge=0.25)
    assert (lost_away.bets, lost_away.profit, lost_away.roi) == (1, -1.0, -1.0)
    assert lost_away.max_drawdown == 1.0
    won_away = betting_results(np.array([0.0]), np.array([0.2]), *EVEN, edge=0.25)
    assert (won_away.profit, won_away.max_drawdown) == (1.0, 0.0)
    # A game without a label or a line is no bet and no game with odds; another still is.
    y, p = np.array([np.nan, 0.0, 1.0]), np.array([0.9, 0.2, 0.9])
    home, away = np.array([100.0, 100.0, np.nan]), np.array([100.0, 100.0, 100.0])
    partial = betting_results(y, p, home, away, edge=0.25)
    assert (partial.games_with_odds, partial.bets, partial.profit) == (1, 1, 1.0)
    none = betting_results(np.array([]), np.array([]), np.array([]), np.array([]), 0.25)
    assert (none.bets, none.profit, none.max_drawdown) == (0, 0.0, 0.0)


def test_closing_line_value_at_the_edge_and_for_a_lost_bet_either_side() -> None:
    from gameline.tasks.model.metrics import closing_line_value

    even = (np.array([100.0]), np.array([100.0]))
    at_edge = closing_line_value(np.array([1.0]), np.array([0.75]), even, even, edge=0.25)
    assert at_edge.bets == 0 and math.isnan(at_edge.mean_clv) and math.isnan(at_edge.roi)
    assert closing_line_value(np.array([1.0]), np.array([0.25]), even, even, 0.25).bets == 0
    # The home side bet at +100 and lost; the close moved to -150 / +130 (home 0.5798 fair).
    closing = (np.array([-150.0]), np.array([130.0]))
    lost_home = closing_line_value(np.array([0.0]), np.array([0.9]), even, closing, 0.25)
    fair_home = (150 / 250) / (150 / 250 + 100 / 230)
    assert lost_home.roi == -1.0 and lost_home.mean_clv == pytest.approx(2 * fair_home - 1)
    assert lost_home.beat_close_share == 1.0
    lost_away = closing_line_value(np.array([1.0]), np.array([0.2]), even, closing, 0.25)
    assert lost_away.roi == -1.0 and lost_away.mean_clv == pytest.approx(2 * (1 - fair_home) - 1)
    won_away = closing_line_value(np.array([0.0]), np.array([0.2]), even, closing, 0.25)
    assert won_away.roi == 1.0 and won_away.beat_close_share == 0.0
    unmoved = closing_line_value(np.array([1.0]), np.array([0.9]), even, even, 0.25)
    assert unmoved.mean_clv == 0.0 and unmoved.beat_close_share == 0.0  # the close, not better


def four_games() -> pd.DataFrame:
    """Four games out of time order, two priced at the close and the open; a market variant."""
    return pd.DataFrame(
        {
            "home_win": [1.0, 0.0, 1.0, 0.0],
            "season": [2021, 2020, 2021, 2020],
            "event_timestamp": pd.to_datetime(
                ["2021-01-04", "2021-01-01", "2021-01-03", "2021-01-02"], utc=True
            ),
            "p_none": [np.nan] * 4,  # a column that predicts nothing: skipped, not the end
            "p_blend": [0.9, 0.2, 0.8, 0.3],
            "p_with_market": [0.9, 0.2, 0.8, 0.3],
            "home_ml": [100.0, np.nan, 100.0, np.nan],
            "away_ml": [100.0, np.nan, 100.0, np.nan],
            "home_ml_open": [100.0, np.nan, 100.0, np.nan],
            "away_ml_open": [100.0, np.nan, 100.0, np.nan],
        }
    )


def test_betting_metrics_skip_a_column_without_odds_and_add_clv_from_opening_lines() -> None:
    from gameline.tasks.model.metrics import betting_metrics

    found = betting_metrics(four_games(), ["p_none", "p_blend", "p_with_market"], edge=0.25)
    assert "none_bet_count" not in found and "none_clv_bets" not in found
    assert (found["blend_bet_count"], found["blend_bet_profit"]) == (2.0, 2.0)  # both home wins
    assert found["with_market_bet_count"] == 2.0
    # Closing-line value of the bets at the opening price (not the market variant's: it takes
    # the closing line as an input), and the markets on the games with both lines.
    assert found["blend_clv_bets"] == 2.0 and found["blend_clv_open_roi"] == 1.0
    assert "with_market_clv_bets" not in found and found["both_lines_games"] == 2.0
    assert found["market_close_log_loss_both_lines"] == pytest.approx(math.log(2))
    no_open = four_games().drop(columns=["home_ml_open", "away_ml_open"])
    assert "blend_clv_bets" not in betting_metrics(no_open, ["p_blend"], edge=0.25)


def test_segments_and_scores_in_sorted_order_with_model_names() -> None:
    from gameline.tasks.model.metrics import scores_by, segment_table, segments

    frame = four_games().set_index(pd.Index([10, 11, 12, 13]))
    labels = segments(frame)  # neither a market nor Elo: the home side is unknown
    assert labels.index.tolist() == [10, 11, 12, 13]
    assert labels["home_side"].tolist() == ["unknown"] * 4
    assert labels["season"].tolist() == ["2021", "2020", "2021", "2020"]
    with_elo = segments(frame.assign(p_elo=[0.6, 0.4, 0.5, np.nan]))
    assert with_elo["home_side"].tolist() == ["favourite", "underdog", "favourite", "unknown"]
    table = segment_table(frame, ["p_blend"])
    assert table[["segment", "value", "model"]].values.tolist() == [
        ["season", "2020", "blend"], ["season", "2021", "blend"],
        ["home_side", "unknown", "blend"],
    ]  # fmt: skip
    assert table["log_loss"].iloc[0] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    by_season = scores_by(frame.rename(columns={"home_win": "won"}), "season", label="won")
    assert by_season.index.tolist() == [2020, 2021] and by_season["games"].tolist() == [2.0, 2.0]


def test_segment_labels_for_every_case_and_missing_values() -> None:
    from gameline.tasks.model.metrics import segments

    frame = pd.DataFrame(
        {
            "season": [2020] * 5,
            "p_market": [0.7, np.nan, 0.3, np.nan, 0.5],  # no Elo to fall back on
            "home_back_to_back": [1.0, 1.0, 0.0, 0.0, np.nan],
            "away_back_to_back": [1.0, 0.0, 1.0, 0.0, np.nan],
            "playoff": [True, False, np.nan, False, False],
        }
    )
    labels = segments(frame)
    assert labels["home_side"].tolist() == [
        "favourite",
        "unknown",
        "underdog",
        "unknown",
        "favourite",
    ]
    assert labels["back_to_back"].tolist() == ["both", "home", "away", "neither", "neither"]
    assert labels["stage"].tolist() == ["playoff", "regular", "regular", "regular", "regular"]
