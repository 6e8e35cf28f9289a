"""The learners every target shares: season weights and LightGBM, trained with early stopping
on the latest training games and kept as its native text model (never pickled)."""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import LightGBMConfig


class LinearModel(BaseModel):
    """A linear model on standardised inputs, stored as numbers; a missing input sits at the
    training mean."""

    columns: list[str]
    means: list[float]
    scales: list[float]
    coef: list[float]
    intercept: float

    def linear(self, inputs: pd.DataFrame) -> np.ndarray:
        """The linear predictor of each row."""
        x = (inputs[self.columns].to_numpy(dtype=float) - self.means) / self.scales
        return np.nan_to_num(x) @ np.asarray(self.coef) + self.intercept


def column_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each input column's mean and standard deviation over its known values; a column with
    none (margins in a league whose file says only who won) or no spread gets 0 and 1."""
    known = ~np.isnan(x)
    count = known.sum(axis=0)
    filled = np.where(known, x, 0.0)
    means = np.divide(filled.sum(axis=0), count, out=np.zeros(x.shape[1]), where=count > 0)
    deviations = np.where(known, x - means, 0.0)
    variance = np.divide(
        (deviations**2).sum(axis=0), count, out=np.zeros(x.shape[1]), where=count > 0
    )
    scales = np.sqrt(variance)
    scales[~(scales > 0)] = 1.0
    return means, scales


def season_weights(seasons: np.ndarray, decay: float) -> np.ndarray:
    """Training weight per game: `decay` to the power of its season's age (the latest season
    in training has weight 1)."""
    seasons = np.asarray(seasons, dtype=float)
    return np.power(decay, seasons.max() - seasons) if seasons.size else seasons


# LightGBM's native calls, one at a time in a process: walk-forward folds run in threads, and
# concurrent native training has crashed a process (a segfault in a fold thread while another
# was inside Booster.update; LightGBM documents known races around shared predictor state).
# Each booster uses one thread anyway; the folds still overlap everything else.
NATIVE_LOCK = threading.Lock()


def fit_lightgbm(
    fit_x: pd.DataFrame,
    fit_y: np.ndarray,
    valid_x: pd.DataFrame,
    valid_y: np.ndarray,
    cfg: LightGBMConfig,
    seed: int,
    fit_weights: np.ndarray | None = None,
    objective: str = "binary",
    init_scores: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """Train a LightGBM booster (`objective`: binary for a win probability, regression for a
    margin or a total) with early stopping on the validation games; returns the native text
    model (what `lightgbm.Booster(model_str=...)` loads). `init_scores` (fit games', validation
    games'): raw scores the trees start from and add to (a prior model's logits)."""
    import lightgbm as lgb

    params = {
        "objective": objective,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples,
        "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": cfg.lambda_l2,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "verbosity": -1,
    }
    fit_init, valid_init = init_scores if init_scores is not None else (None, None)
    with NATIVE_LOCK:
        train = lgb.Dataset(fit_x, fit_y, weight=fit_weights, init_score=fit_init)
        valid = lgb.Dataset(valid_x, valid_y, reference=train, init_score=valid_init)
        booster = lgb.train(
            params,
            train,
            num_boost_round=cfg.max_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )
        return booster.model_to_string(num_iteration=booster.best_iteration)


@functools.lru_cache(maxsize=16)
def _booster(model: str) -> Any:
    """A native LightGBM text model parsed once (a served model predicts many times; a str
    keeps its hash, so the same model text is found at once)."""
    import lightgbm as lgb

    with NATIVE_LOCK:
        return lgb.Booster(model_str=model)


def predict_lightgbm(model: str, inputs: pd.DataFrame, raw: bool = False) -> np.ndarray:
    """A native LightGBM text model's predictions (probabilities of a binary model; with `raw`,
    its raw scores: what its trees add to their starting logits)."""
    booster = _booster(model)
    with NATIVE_LOCK:
        return np.asarray(booster.predict(inputs, raw_score=raw), dtype=float)
