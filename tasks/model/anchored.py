"""The `anchored` family: the market's price, corrected only where the data shows it is wrong.

Given a market's home and away moneylines as game facts (`train.market`), LightGBM starts
from the market's vig-free logit and its trees add corrections from every other input, with
early stopping on the latest training games. The corrections are kept only when, on those same
validation games, they lower the log loss by more than twice its standard error; otherwise the
family is the market itself. A closing line is hard to beat: a model that re-learns it from
scratch, or takes it as one input among many, loses some of its information (NBA 2016-22: the
blend with the lines as inputs 0.6013 against the market's 0.5999). A game without both prices
gets the results-only prediction (`p_blend`, else `p_logistic`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import TrainConfig
from gameline.tasks.features.sources import GAME
from gameline.tasks.model.learners import fit_lightgbm, predict_lightgbm

# The corrections must beat the market on the validation games by this many standard errors.
ADOPT_Z = 2.0
# With fewer priced validation games than this, the market is taken as it is.
MIN_VALID_GAMES = 100


class AnchoredModel(BaseModel):
    """The market's two moneyline facts, and the trees that correct its logit (None: the
    market as it is), with the validation evidence that decided it."""

    market: list[str]
    booster: str | None = None
    valid_games: int = 0
    valid_gain: float = 0.0
    valid_gain_se: float = 0.0

    def market_logit(self, frame: pd.DataFrame) -> np.ndarray:
        return market_logit(frame, self.market)

    def predict(
        self, inputs: pd.DataFrame, frame: pd.DataFrame, fallback: np.ndarray
    ) -> np.ndarray:
        """P(home win): the corrected market where both prices are known, else `fallback`."""
        logit = self.market_logit(frame)
        if self.booster is not None:
            logit = logit + predict_lightgbm(self.booster, inputs, raw=True)
        return np.where(np.isnan(logit), fallback, 1 / (1 + np.exp(-logit)))


def market_columns(market: list[str]) -> list[str]:
    """The frame's columns of the home and away moneyline facts (`game__<name>`)."""
    return [f"{GAME}{name}" for name in market]


def market_logit(frame: pd.DataFrame, market: list[str]) -> np.ndarray:
    """The logit of the market's vig-free home-win probability, from the two moneyline facts
    (each stored as the logit of its implied probability): log(q_home / q_away); NaN where
    either is missing."""
    home, away = (
        frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in market_columns(market)
    )
    q_home, q_away = 1 / (1 + np.exp(-home)), 1 / (1 + np.exp(-away))
    return np.log(q_home / q_away)


def _log_losses(logit: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each game's log loss of a logit (computed stably)."""
    return np.logaddexp(0.0, -logit) * y + np.logaddexp(0.0, logit) * (1 - y)


def fit_anchored(
    inputs: pd.DataFrame,
    frame: pd.DataFrame,
    y: np.ndarray,
    weights: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    cfg: TrainConfig,
) -> AnchoredModel:
    """Fit the corrections on the fit games with a price, early-stopped on the priced
    validation games (`split`: the fit and validation masks), and keep them only if they beat
    the market there by ADOPT_Z standard errors."""
    market = list(cfg.market or [])
    logit = market_logit(frame, market)
    priced = ~np.isnan(logit)
    fit, valid = split[0] & priced, split[1] & priced
    model = AnchoredModel(market=market, valid_games=int(valid.sum()))
    if fit.sum() < MIN_VALID_GAMES or valid.sum() < MIN_VALID_GAMES:
        return model
    booster = fit_lightgbm(
        inputs[fit], y[fit], inputs[valid], y[valid], cfg.lightgbm, cfg.seed, weights[fit],
        init_scores=(logit[fit], logit[valid]),
    )  # fmt: skip
    corrected = logit[valid] + predict_lightgbm(booster, inputs[valid], raw=True)
    gains = _log_losses(logit[valid], y[valid]) - _log_losses(corrected, y[valid])
    model.valid_gain = float(gains.mean())
    model.valid_gain_se = float(gains.std(ddof=1) / np.sqrt(gains.size))
    if model.valid_gain > ADOPT_Z * model.valid_gain_se:
        model.booster = booster
    return model
