"""The margin and total targets: line results and pushes, probabilities at the line from each
distribution, and the scores against the lines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gameline.tasks.model.line_scores import (
    BREAK_EVEN_110,
    COIN,
    bets_at_110,
    line_scores,
    line_segments,
)
from gameline.tasks.model.targets import (
    Distribution,
    choose_distribution,
    fit_with_line,
    line_probabilities,
    line_result,
)

NORMAL = Distribution(kind="normal", sd=12.0)
COUNT = Distribution(kind="count", sd=1.5)


def test_cover_over_and_push_follow_the_sign_convention() -> None:
    margin = np.array([7.0, 2.0, -1.0, 5.0, np.nan, 4.0])
    spread = np.array([-5.5, -3.0, -3.0, 2.5, -1.0, np.nan])  # home -5.5 wins by 7: covers
    assert line_result(margin, spread, "margin").tolist()[:4] == [1.0, 0.0, 0.0, 1.0]
    pushed = line_result(np.array([3.0]), np.array([-3.0]), "margin")
    assert np.isnan(pushed).all()  # won by exactly the spread: a push, no label
    assert np.isnan(line_result(margin, spread, "margin")[4:]).all()  # no result, no line
    total = np.array([210.0, 200.0, 205.0])
    assert line_result(total, np.array([205.5, 205.5, 205.0]), "total")[:2].tolist() == [1.0, 0.0]
    assert np.isnan(line_result(total, np.array([205.5, 205.5, 205.0]), "total")[2])


def test_a_half_point_line_never_pushes_and_sides_sum_to_one() -> None:
    mean, other = np.array([4.0, -2.0]), np.array([210.0, 210.0])
    p, push = line_probabilities(NORMAL, "margin", mean, other, np.array([-3.5, -3.5]))
    assert push.tolist() == [0.0, 0.0]
    # P(margin > 3.5) with the continuity the scores' whole numbers ask for.
    assert p == pytest.approx(stats.norm.sf((3.5 - mean) / 12.0))
    away_view, _ = line_probabilities(NORMAL, "margin", -mean, other, np.array([3.5, 3.5]))
    assert p + away_view == pytest.approx(1.0)  # the away side's cover is the home side's miss


def test_a_whole_number_line_gives_a_push_and_a_conditional_probability() -> None:
    mean, other = np.array([3.0]), np.array([210.0])
    p, push = line_probabilities(NORMAL, "margin", mean, other, np.array([-3.0]))
    exact = stats.norm.cdf(0.5 / 12) - stats.norm.cdf(-0.5 / 12)  # P(margin == 3)
    assert push[0] == pytest.approx(exact)
    assert p[0] == pytest.approx(0.5)  # centred on the line: as likely to cover as not
    none, no_push = line_probabilities(NORMAL, "margin", mean, other, np.array([np.nan]))
    assert np.isnan(none).all() and np.isnan(no_push).all()  # no line: no made-up probability


def test_the_count_model_prices_low_scoring_games_with_skellam_and_poisson() -> None:
    margin, total = np.array([0.5]), np.array([5.5])  # home 3.0 and away 2.5 goals a game
    p_cover, push = line_probabilities(COUNT, "margin", margin, total, np.array([-1.0]))
    win = stats.skellam.sf(1, 3.0, 2.5)  # margin >= 2
    tie = stats.skellam.pmf(1, 3.0, 2.5)
    assert push[0] == pytest.approx(tie)
    assert p_cover[0] == pytest.approx(win / (1 - tie))
    p_over, _ = line_probabilities(COUNT, "total", total, margin, np.array([5.5]))
    assert p_over[0] == pytest.approx(stats.poisson.sf(5, 5.5))


def test_the_distribution_that_fits_the_outcomes_is_chosen() -> None:
    rng = np.random.default_rng(3)
    home, away = rng.poisson(3.1, 3000), rng.poisson(2.7, 3000)
    margin_mean, total_mean = np.full(3000, 0.4), np.full(3000, 5.8)
    goals = choose_distribution("total", total_mean, margin_mean, (home + away).astype(float))
    assert goals.kind == "count"
    points = rng.normal(220, 18, 3000).round()
    assert choose_distribution("total", np.full(3000, 220.0), np.zeros(3000), points).kind == (
        "normal"
    )


def oof(p_cover: float, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    home = rng.integers(90, 130, n).astype(float)
    away = rng.integers(90, 130, n).astype(float)
    return pd.DataFrame(
        {
            "home_score": home,
            "away_score": away,
            "home_spread": np.full(n, -0.5),
            "total_line": np.full(n, 220.0),
            "cover_linear": np.full(n, p_cover),
            "margin_linear": np.zeros(n),
            "over_linear": np.full(n, 0.5),
            "total_linear": np.full(n, 220.0),
        }
    )


def test_a_coin_at_the_line_scores_ln2_and_bets_nothing() -> None:
    found = line_scores(oof(0.5))
    assert found["cover_linear_log_loss"] == pytest.approx(COIN)
    assert found["over_linear_log_loss"] == pytest.approx(COIN)
    assert found["cover_linear_bets"] == 0 and np.isnan(found["cover_linear_roi_110"])
    frame = oof(0.5)
    pushes = (frame["home_score"] + frame["away_score"] == 220).sum()
    assert found["over_pushes"] == pushes and found["over_games"] == 400 - pushes
    assert found["margin_line_rmse"] == pytest.approx(
        np.sqrt(np.mean((frame["home_score"] - frame["away_score"] - 0.5) ** 2))
    )


def test_bets_at_110_pay_100_for_110() -> None:
    y = np.array([1.0, 0.0, 1.0, np.nan])
    p = np.array([0.6, 0.6, 0.3, 0.9])  # two home bets (one wins), one away bet (loses)
    bets, roi = bets_at_110(y, p, edge=0.0)
    assert bets == 3 and roi == pytest.approx((100 / 110 - 2) / 3)
    assert bets_at_110(y, np.full(4, BREAK_EVEN_110), edge=0.0)[0] == 0


def synthetic_games(n: int = 900, seed: int = 4) -> pd.DataFrame:
    """Games whose margin follows an Elo difference and whose total follows both teams'
    scoring levels, with lines that know both (plus noise)."""
    rng = np.random.default_rng(seed)
    elo = rng.normal(0, 60, (2, n))
    level = rng.normal(108, 4, (2, n))
    margin = (elo[0] - elo[1]) / 28 + 2 + rng.normal(0, 12, n)
    total = level.sum(0) + rng.normal(0, 17, n)
    frame = pd.DataFrame(
        {
            "season": np.repeat([2020, 2021, 2022], n // 3),
            "event_timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
            "neutral": False,
            "home__elo_pre": 1500 + elo[0],
            "away__elo_pre": 1500 + elo[1],
            "home__points_for_20": level[0],
            "away__points_for_20": level[1],
            "home__points_against_20": np.full(n, 108.0),
            "away__points_against_20": np.full(n, 108.0),
            "home_score": np.round((total + margin) / 2),
            "away_score": np.round((total - margin) / 2),
        }
    )
    expected = (elo[0] - elo[1]) / 28 + 2
    frame["home_spread"] = -np.round((expected + rng.normal(0, 2, n)) * 2) / 2
    frame["total_line"] = np.round((level.sum(0) + rng.normal(0, 2, n)) * 2) / 2
    return frame


def test_targets_use_the_winners_inputs_and_never_the_result() -> None:
    from gameline.tasks.config import TrainConfig
    from gameline.tasks.model.inputs import model_inputs
    from gameline.tasks.model.targets import fit_line_models, predict_lines, target_inputs

    features = ["elo_pre", "points_for_20", "points_against_20"]
    games = synthetic_games()
    winner = list(model_inputs(games, features).columns)
    assert list(target_inputs(games, features, "margin").columns) == winner
    sums = ["sum__points_for_20", "sum__points_against_20"]
    assert list(target_inputs(games, features, "total").columns) == [*winner, *sums]
    models = fit_line_models(games[:600], features, TrainConfig(models=["logistic"]))
    test = games[600:]
    predicted = predict_lines(models, test, features)
    blind = predict_lines(models, test.drop(columns=["home_score", "away_score"]), features)
    pd.testing.assert_frame_equal(predicted, blind)  # the results are never read to predict
    unlined = predict_lines(models, test.drop(columns=["home_spread", "total_line"]), features)
    assert unlined[["cover_linear", "over_linear"]].isna().all().all()  # no line: no price
    assert unlined["margin_linear"].notna().all()  # the fair spread still comes from the model
    assert models.margin.families["linear"].with_line is not None
    scored = line_scores(pd.concat([test, predicted], axis=1))
    assert abs(scored["cover_linear_log_loss"] - COIN) < 0.02  # lines this sharp: near a coin


def test_closing_line_value_counts_the_points_the_line_moved_toward_each_bet() -> None:
    from gameline.tasks.model.line_scores import line_clv

    frame = pd.DataFrame(
        {
            "home_score": [110.0, 100.0, 105.0, 99.0],
            "away_score": [100.0, 104.0, 100.0, 100.0],
            "home_spread_open": [-3.0, -2.0, 1.0, np.nan],
            "home_spread": [-4.5, -1.0, 1.0, -2.0],
            "cover_linear_open": [0.6, 0.4, 0.5, 0.9],  # home, away, no bet, no opening line
        }
    )
    found = line_clv(frame)
    assert found["cover_both_lines_games"] == 3 and found["cover_linear_clv_bets"] == 2
    # Home at -3 closing -4.5: +1.5; away at +2 closing +1 (the home line -2 to -1): +1.0.
    assert found["cover_linear_clv_points"] == pytest.approx((1.5 + 1.0) / 2)
    assert found["cover_linear_clv_beat_share"] == 1.0
    # Settled at the opening line: home -3 won by 10 (a win), away +2 lost by 4 (a win).
    assert found["cover_linear_clv_open_roi"] == pytest.approx(100 / 110)
    assert line_clv(frame.drop(columns="home_spread_open")) == {}


def test_a_game_is_priced_at_its_opening_lines_without_its_closing_ones() -> None:
    from gameline.tasks.config import TrainConfig
    from gameline.tasks.model.targets import fit_line_models, predict_lines

    features = ["elo_pre", "points_for_20", "points_against_20"]
    games = synthetic_games()
    models = fit_line_models(games[:600], features, TrainConfig(models=["logistic"]))
    test = games[600:].assign(home_spread_open=games["home_spread"][600:] + 1.0)
    priced = predict_lines(models, test, features)
    assert priced["cover_linear_open"].notna().all()
    assert "over_linear_open" not in priced  # no opening total: nothing priced at it
    # The price at the open does not know the closing line: moving the close changes nothing.
    moved = predict_lines(models, test.assign(home_spread=test["home_spread"] - 5), features)
    np.testing.assert_allclose(priced["cover_linear_open"], moved["cover_linear_open"])


def test_the_model_share_stays_between_the_line_and_the_model() -> None:
    """A share fitted below 0 (the model disagrees with the line against the results) is held
    at 0, one above 1 at 1; then a longer spread asked for never lowers P(cover)."""
    rng = np.random.default_rng(3)
    line = rng.normal(0, 6, 400)
    y = line + rng.normal(0, 12, 400)
    against = fit_with_line(line - 0.8 * (y - line), line, y)  # unconstrained: about -1.0
    beyond = fit_with_line(line + 0.5 * (y - line), line, y)  # unconstrained: about 1.3
    assert against is not None and (against.w_model, against.w_line) == (0.0, 1.0)
    assert beyond is not None and (beyond.w_model, beyond.w_line) == (1.0, 0.0)
    # The offset refitted with the share held: the mean residual, shrunk toward 0.
    assert against.intercept == pytest.approx(np.sum(y - line) / (400 + 2000))
    spreads = np.arange(-30.5, 31.0, 1.0)
    for fit in (against, beyond, fit_with_line(line + 0.3 * (y - line), line, y)):
        assert fit is not None and 0.0 <= fit.w_model <= 1.0
        margin = fit.apply(np.full(len(spreads), 3.0), -spreads)  # the line as a mean: -spread
        p_cover, _ = line_probabilities(NORMAL, "margin", margin, np.zeros(len(spreads)), spreads)
        assert np.all(np.diff(p_cover) >= -1e-12)


def test_a_segment_without_a_game_at_a_line_is_left_out_without_a_warning() -> None:
    """Games without lines make a 'no line' segment with nothing to score: it is left out, and
    no mean of nothing is taken (numpy's RuntimeWarning, which CI printed 45 times)."""
    frame = pd.DataFrame(
        {
            "season": [2024] * 4,
            "home_spread": [-3.5, 2.5, np.nan, np.nan],
            "total_line": [200.5, 210.5, np.nan, np.nan],
            "home_score": [110, 100, 99, 98],
            "away_score": [100, 105, 90, 97],
            "cover_blend": [0.6, 0.4, np.nan, np.nan],
            "over_blend": [0.5, 0.3, np.nan, np.nan],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = line_segments(frame, "blend")
    assert set(zip(table["segment"], table["value"], strict=True)) == {
        ("season", "2024"),
        ("home_side", "favourite"),
        ("home_side", "underdog"),
    }
    season = table[table["segment"] == "season"].set_index("side")
    assert season.loc["cover", "games"] == 2 and season.loc["over", "games"] == 2
