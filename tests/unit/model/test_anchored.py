"""The anchored family: the market's price, corrected only where the validation games show
the correction helps; the results-only prediction where a game has no price."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import TrainConfig
from gameline.tasks.data.source_rows import moneyline_logit
from gameline.tasks.model.anchored import AnchoredModel, fit_anchored
from gameline.tasks.model.metrics import log_loss, market_probability

MARKET = ["ml_home", "ml_away"]


def american(p: np.ndarray) -> np.ndarray:
    """A price for probability p (with the bookmaker's margin already in p)."""
    return np.where(p >= 0.5, -100 * p / (1 - p), 100 * (1 - p) / p)


def games(n: int, rest_effect: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Games whose market prices the team strengths exactly (4.5% overround) but not a rest
    edge worth `rest_effect` on the logit; returns the frame with the moneylines as game facts
    (logits), the model inputs, and the outcomes."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.3, 0.8, n)
    rested = rng.integers(0, 2, n).astype(float)
    p_true = 1 / (1 + np.exp(-(strength + rest_effect * (rested - 0.5))))
    p_market = 1 / (1 + np.exp(-strength))
    home_ml = pd.Series(american(np.clip(p_market * 1.045, 0.01, 0.99)))
    away_ml = pd.Series(american(np.clip((1 - p_market) * 1.045, 0.01, 0.99)))
    frame = pd.DataFrame(
        {
            "game__ml_home": moneyline_logit(home_ml),
            "game__ml_away": moneyline_logit(away_ml),
            "home_ml": home_ml,
            "away_ml": away_ml,
        }
    )
    inputs = pd.DataFrame({"rested": rested, "noise": rng.normal(size=n)})
    y = (rng.random(n) < p_true).astype(float)
    return frame, inputs, y


def fitted(rest_effect: float, n: int = 8000, seed: int = 1) -> AnchoredModel:
    frame, inputs, y = games(n, rest_effect, seed)
    valid = np.arange(n) >= int(0.8 * n)
    cfg = TrainConfig(market=MARKET)
    return fit_anchored(inputs, frame, y, np.ones(n), (~valid, valid), cfg)


def test_a_market_that_prices_every_input_is_served_as_it_is() -> None:
    model = fitted(rest_effect=0.0)
    assert model.booster is None and model.valid_games == 1600
    frame, inputs, _ = games(500, 0.0, seed=2)
    served = model.predict(inputs, frame, fallback=np.full(500, 0.5))
    market = market_probability(frame["home_ml"].to_numpy(), frame["away_ml"].to_numpy())
    np.testing.assert_allclose(served, market, rtol=1e-12)


def test_a_correction_the_market_misses_is_kept_and_beats_it_on_new_games() -> None:
    model = fitted(rest_effect=1.0)
    assert model.booster is not None
    assert model.valid_gain > 2 * model.valid_gain_se > 0
    frame, inputs, y = games(4000, 1.0, seed=3)
    served = model.predict(inputs, frame, fallback=np.full(4000, 0.5))
    market = market_probability(frame["home_ml"].to_numpy(), frame["away_ml"].to_numpy())
    assert log_loss(y, served) < log_loss(y, market) - 0.01


def test_a_game_without_both_prices_gets_the_fallback() -> None:
    model = fitted(rest_effect=1.0)
    frame, inputs, _ = games(10, 1.0, seed=4)
    frame.loc[[0, 3], "game__ml_away"] = np.nan
    frame.loc[[5], "game__ml_home"] = np.nan
    fallback = np.linspace(0.1, 0.9, 10)
    served = model.predict(inputs, frame, fallback)
    assert served[[0, 3, 5]].tolist() == fallback[[0, 3, 5]].tolist()
    assert not np.isin(served[[1, 2, 4, 6, 7, 8, 9]], fallback).any()


def test_too_few_priced_games_leave_the_market_as_it_is() -> None:
    frame, inputs, y = games(400, 1.0, seed=5)
    valid = np.arange(400) >= 320
    model = fit_anchored(
        inputs, frame, y, np.ones(400), (~valid, valid), TrainConfig(market=MARKET)
    )
    assert model.booster is None and model.valid_games == 80


@pytest.mark.parametrize(
    ("train", "mlflow", "message"),
    [
        ({"market": ["ml_home", "spread"]}, {}, "give the home and away moneyline features"),
        ({"market": ["ml_home", "ml_home"]}, {}, "give the home and away moneyline features"),
        ({}, {"final_family": "anchored"}, "name its home and away moneyline features"),
    ],
)
def test_the_market_is_two_moneyline_game_facts(
    train: dict[str, object], mlflow: dict[str, object], message: str, tmp_path: object
) -> None:
    from gameline.tasks.config import load_config
    from tests.builders import CONFIGS

    source = {
        "name": "lines",
        "kind": "game_facts",
        "known_before_start": True,
        "features": {
            "ml_home": {"type": "moneyline"},
            "ml_away": {"type": "moneyline"},
            "spread": {},
        },
    }
    overrides = {"features": {"sources": [source]}, "train": train, "mlflow": mlflow}
    with pytest.raises(ValueError, match=message):
        load_config(CONFIGS / "default.yaml", overrides=overrides, environ={})
    ok = {**overrides, "train": {"market": MARKET}, "mlflow": {"final_family": "anchored"}}
    assert load_config(CONFIGS / "default.yaml", overrides=ok, environ={}).train.market == MARKET
