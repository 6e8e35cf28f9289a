"""Walk-forward training by season: model families and baselines scored on the same folds.

Besides the results-only families, where moneylines exist a market variant (the logistic model
with the market's logit as one more input) is scored against the market itself (`p_market`) on
the same games; it is reported, never registered, since it needs a price at prediction time.
Where the config declares a market's moneylines as game facts (`train.market`), the `anchored`
family (tasks/model/anchored.py) starts from that price instead, and can be registered.

Each fold trains on every season before its test season (an expanding window) and predicts the
test season. Inside a fold, the latest `inner_valid_share` of the training games (by start time,
never at random) is held out for LightGBM's early stopping and for fitting the calibration.
Fitted models are plain numbers (logistic coefficients, calibration parameters) or LightGBM's
native text model: nothing is pickled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import TrainConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.anchored import AnchoredModel, fit_anchored
from gameline.tasks.model.folds import fold_frames, inner_split, oof_columns, season_folds
from gameline.tasks.model.inputs import (
    EDGE_INPUTS,
    MISSING,
    elo_inputs,
    market_variant_inputs,
    model_inputs,
)
from gameline.tasks.model.learners import (
    LinearModel,
    column_moments,
    fit_lightgbm,
    predict_lightgbm,
    season_weights,
)
from gameline.tasks.model.targets import LineModels, fit_line_models, has_scores, predict_lines


class LogisticModel(LinearModel):
    """A standardised L2 logistic regression, stored as numbers."""

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-self.linear(inputs)))


def fit_logistic(
    inputs: pd.DataFrame,
    y: np.ndarray,
    c: float,
    seed: int,
    weights: np.ndarray | None = None,
) -> LogisticModel:
    """Fit the logistic regression; missing inputs are treated as the training mean.

    With `league_home_edge` among the inputs, the edge inputs stay uncentred and there is no
    intercept: the home advantage is carried by the edge alone (see EDGE_INPUTS).
    """
    from sklearn.linear_model import LogisticRegression

    x = inputs.to_numpy(dtype=float)
    means, scales = column_moments(x)
    structural = "league_home_edge" in inputs.columns
    if structural:
        means[[i for i, col in enumerate(inputs.columns) if col in EDGE_INPUTS]] = 0.0
    # Missing indicators stay 0/1: standardised, a value missing in 2 training games of 20,000
    # would be 70 standard deviations out in a season where it is missing everywhere.
    indicators = [i for i, col in enumerate(inputs.columns) if col.startswith(MISSING)]
    means[indicators], scales[indicators] = 0.0, 1.0
    z = np.nan_to_num((x - means) / scales)
    model = LogisticRegression(
        C=c, max_iter=2000, random_state=seed, fit_intercept=not structural
    ).fit(z, y, sample_weight=weights)
    return LogisticModel(
        columns=list(inputs.columns),
        means=means.tolist(),
        scales=scales.tolist(),
        coef=model.coef_[0].tolist(),
        intercept=float(np.atleast_1d(model.intercept_)[0]),
    )


class Calibration(BaseModel):
    """A probability calibration as numbers: Platt (a, b on the logit) or isotonic steps."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: list[float] = []
    y: list[float] = []

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
        if self.method == "platt":
            return 1 / (1 + np.exp(-(self.a * np.log(p / (1 - p)) + self.b)))
        if self.method == "isotonic":
            return np.interp(p, self.x, self.y)
        return p


def fit_calibration(p: np.ndarray, y: np.ndarray, method: str) -> Calibration:
    """Fit a calibration of probabilities `p` to outcomes `y`."""
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        logit = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), y)
        return Calibration(
            method="platt", a=float(fitted.coef_[0, 0]), b=float(fitted.intercept_[0])
        )
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-3, y_max=1 - 1e-3).fit(p, y)
        return Calibration(
            method="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist()
        )
    return Calibration(method="none")


class FoldModels(BaseModel):
    """Everything one fold fitted."""

    home_rate: float
    elo: LogisticModel
    logistic: LogisticModel
    lightgbm: str | None = None
    calibration: Calibration | None = None
    blend_weight: float
    with_market: LogisticModel | None = None
    anchored: AnchoredModel | None = None
    lines: LineModels | None = None


# The market variant needs at least this many training games with a price.
MIN_MARKET_GAMES = 200


def fit_models(train: pd.DataFrame, features: list[str], cfg: TrainConfig) -> FoldModels:
    """Baselines and model families on one fold's training games (label present)."""
    inputs = model_inputs(train, features)
    y = train[LABEL].to_numpy()
    weights = season_weights(train["season"].to_numpy(), cfg.season_weight_decay)
    models = FoldModels(
        home_rate=float(y[train["neutral"].to_numpy() == 0].mean()),
        elo=fit_logistic(elo_inputs(train), y, c=1e3, seed=cfg.seed),
        logistic=fit_logistic(inputs, y, c=cfg.logistic_c, seed=cfg.seed, weights=weights),
        blend_weight=cfg.blend_weight,
    )
    if cfg.market_variant and "home_ml" in train:
        inputs_m = market_variant_inputs(train, features)
        priced = inputs_m["market_logit"].notna().to_numpy()
        if priced.sum() >= MIN_MARKET_GAMES:
            models.with_market = fit_logistic(
                inputs_m[priced], y[priced], cfg.logistic_c, cfg.seed, weights[priced]
            )
    fit, valid = inner_split(train["event_timestamp"], cfg.inner_valid_share)
    if "lightgbm" in cfg.models or "blend" in cfg.models:
        booster = fit_lightgbm(
            inputs[fit], y[fit], inputs[valid], y[valid], cfg.lightgbm, cfg.seed, weights[fit]
        )
        raw = predict_lightgbm(booster, inputs[valid])
        models.lightgbm = booster
        models.calibration = fit_calibration(raw, y[valid], cfg.calibration)
    if cfg.market:
        models.anchored = fit_anchored(inputs, train, y, weights, (fit, valid), cfg)
    if cfg.line_targets and has_scores(train):
        models.lines = fit_line_models(train, features, cfg)
    return models


def predict_models(models: FoldModels, frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Every model's and baseline's probability of a home win for `frame`'s games."""
    inputs = model_inputs(frame, features)
    neutral = frame["neutral"].to_numpy(dtype=bool)
    out = pd.DataFrame(index=frame.index)
    out["p_home_rate"] = np.where(neutral, 0.5, models.home_rate)
    # A model on a feature subset is served without what its Elo baseline took (the Elo rating,
    # or the league's home margin): the baseline is then left out.
    baseline = elo_inputs(frame) if "home__elo_pre" in frame else None
    if baseline is not None and set(models.elo.columns) <= set(baseline.columns):
        out["p_elo"] = models.elo.predict(baseline)
    out["p_logistic"] = models.logistic.predict(inputs)
    if models.lightgbm is not None and models.calibration is not None:
        out["p_lightgbm"] = models.calibration.apply(predict_lightgbm(models.lightgbm, inputs))
        w = models.blend_weight
        out["p_blend"] = w * out["p_lightgbm"] + (1 - w) * out["p_logistic"]
    if models.anchored is not None:
        fallback = out["p_blend" if "p_blend" in out else "p_logistic"].to_numpy()
        out["p_anchored"] = models.anchored.predict(inputs, frame, fallback)
    market = models.with_market is not None or models.anchored is not None
    if market and "home_ml" in frame:  # the results file's own prices: the market baseline
        inputs_m = market_variant_inputs(frame, features, inputs)
        priced = inputs_m["market_logit"].notna().to_numpy()
        out["p_market"] = np.where(priced, 1 / (1 + np.exp(-inputs_m["market_logit"])), np.nan)
        if models.with_market is not None:
            out["p_with_market"] = np.where(priced, models.with_market.predict(inputs_m), np.nan)
    if models.lines is not None:
        out = pd.concat([out, predict_lines(models.lines, frame, features, inputs)], axis=1)
    return out


def walk_forward(frame: pd.DataFrame, features: list[str], cfg: TrainConfig) -> pd.DataFrame:
    """Out-of-fold predictions of every test season (finished games with a label only)."""
    played = frame[frame[LABEL].notna()]
    parts = []
    for fold in season_folds(played["season"].to_numpy(), cfg, played["event_timestamp"]):
        train, test = fold_frames(played, fold)
        predictions = predict_models(fit_models(train, features, cfg), test, features)
        parts.append(pd.concat([oof_columns(test, fold), predictions], axis=1))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
