"""Walk-forward training by season: model families and baselines scored on the same folds.

Besides the results-only families, where moneylines exist a market variant (the logistic model
with the market's logit as one more input) is scored against the market itself (`p_market`) on
the same games; it is reported, never registered, since it needs a price at prediction time.

Each fold trains on every season before its test season (an expanding window) and predicts the
test season. Inside a fold, the latest `inner_valid_share` of the training games (by start time,
never at random) is held out for LightGBM's early stopping and for fitting the calibration.
Fitted models are plain numbers (logistic coefficients, calibration parameters) or LightGBM's
native text model: nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import LightGBMConfig, TrainConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.metrics import market_probability

BASELINES = ("home_rate", "elo")
# Side-specific inputs LightGBM gets besides the home-minus-away differences.
SIDE_INPUTS = ("rest_days", "back_to_back")
# Differences the logistic model also gets multiplied by how far the season is (0 to 1).
PROGRESS_INTERACTIONS = ("elo_pre", "win_pct_season", "margin_season")
# Inputs whose zero means "no home edge" (a neutral site): the logistic models keep them
# uncentred and fit no intercept when the league's point-in-time home edge is an input, so the
# home advantage moves with the league's recent home margin instead of sitting in a constant
# learnt from older seasons (the NBA's shrank by half in 2020-21).
EDGE_INPUTS = ("league_home_edge", "neutral")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on `train_seasons` (and, with date blocks, the games of the
    test season that started `BLOCK_GAP` or more before `test_start`); test on the games of
    `test_season` that start in [test_start, test_end)."""

    number: int
    test_season: int
    train_seasons: tuple[int, ...]
    block: int = 0
    test_start: pd.Timestamp | None = None
    test_end: pd.Timestamp | None = None


# With date blocks, a test-season game trains a later block only if it started this long before
# the block's first game: long enough for any game to have ended, so its result was known.
BLOCK_GAP = pd.Timedelta(hours=12)


def season_folds(
    seasons: np.ndarray, cfg: TrainConfig, starts: pd.Series | None = None
) -> list[Fold]:
    """Expanding-window folds: every test season with at least `min_train_seasons` before it,
    split into `cfg.date_blocks` blocks of consecutive games (needs the games' `starts`)."""
    unique = sorted({int(s) for s in seasons})
    eligible = unique[cfg.min_train_seasons :]
    tests = [
        s
        for s in eligible
        if (cfg.first_test_season is None or s >= cfg.first_test_season)
        and (cfg.last_test_season is None or s <= cfg.last_test_season)
    ]
    if cfg.date_blocks > 1 and starts is None:
        raise ValueError("date blocks need the games' start times")
    folds: list[Fold] = []
    for season in tests:
        before = tuple(t for t in unique if t < season)
        if cfg.date_blocks == 1 or starts is None:
            folds.append(Fold(number=len(folds), test_season=season, train_seasons=before))
            continue
        times = pd.Series(starts.to_numpy()[np.asarray(seasons) == season]).sort_values()
        edges = [times.iloc[int(len(times) * b / cfg.date_blocks)] for b in range(cfg.date_blocks)]
        for block, start in enumerate(edges):
            end = edges[block + 1] if block + 1 < len(edges) else None
            folds.append(
                Fold(len(folds), season, before, block=block, test_start=start, test_end=end)
            )
    return folds


def fold_frames(played: pd.DataFrame, fold: Fold) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training games, test games) of a fold, from finished games with a label."""
    seasons = played["season"]
    train_mask = seasons.isin(fold.train_seasons)
    test_mask = seasons == fold.test_season
    if fold.test_start is not None:
        starts = played["event_timestamp"]
        train_mask |= test_mask & (starts <= fold.test_start - BLOCK_GAP)
        test_mask &= starts >= fold.test_start
        if fold.test_end is not None:
            test_mask &= starts < fold.test_end
    return played[train_mask], played[test_mask]


def model_features(available: list[str], cfg: TrainConfig) -> list[str]:
    """The features the models use: `cfg.features` (checked against what the feature store
    has), else all of them."""
    if cfg.features is None:
        return available
    unknown = [f for f in cfg.features if f not in available]
    if unknown:
        raise ValueError(f"train.features {unknown} are not features; known: {available}")
    return [f for f in available if f in cfg.features]


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Home-minus-away differences of every feature, season-to-date differences times season
    progress, the neutral flag, the league's home edge, and side-specific rest inputs (NaN where
    a team has no history yet)."""
    inputs = {f"diff__{f}": frame[f"home__{f}"] - frame[f"away__{f}"] for f in features}
    if "season_progress" in features:  # season-to-date numbers deserve more trust as it goes on
        progress = ((frame["home__season_progress"] + frame["away__season_progress"]) / 2).clip(
            upper=1.0
        )
        for name in PROGRESS_INTERACTIONS:
            if name in features:
                inputs[f"{name}_x_progress"] = inputs[f"diff__{name}"].fillna(0.0) * progress
    inputs["neutral"] = frame["neutral"].astype(float)
    if "league_home_margin" in features:  # the home edge the league shows lately, if not neutral
        inputs["league_home_edge"] = frame["home__league_home_margin"] * (1 - inputs["neutral"])
    for side in ("home", "away"):
        for name in SIDE_INPUTS:
            if name in features:
                inputs[f"{side}__{name}"] = frame[f"{side}__{name}"]
    return pd.DataFrame(inputs, index=frame.index)


def elo_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The Elo baseline's inputs (Elo difference, neutral flag, the league's home edge where
    the feature store has it), whatever features the models use."""
    names = ["elo_pre"] + (["league_home_margin"] if "home__league_home_margin" in frame else [])
    inputs = model_inputs(frame, names)
    columns = ["diff__elo_pre", "neutral"] + (
        ["league_home_edge"] if "league_home_edge" in inputs else []
    )
    return inputs[columns]


def inner_split(start_times: pd.Series, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) boolean masks: the latest `share` of games by start time validates."""
    cutoff = start_times.quantile(1 - share)
    valid = (start_times > cutoff).to_numpy()
    return ~valid, valid


class LogisticModel(BaseModel):
    """A standardised L2 logistic regression, stored as numbers."""

    columns: list[str]
    means: list[float]
    scales: list[float]
    coef: list[float]
    intercept: float

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        x = (inputs[self.columns].to_numpy(dtype=float) - self.means) / self.scales
        x = np.nan_to_num(x)  # a missing difference sits at the training mean
        return 1 / (1 + np.exp(-(x @ np.asarray(self.coef) + self.intercept)))


def season_weights(seasons: np.ndarray, decay: float) -> np.ndarray:
    """Training weight per game: `decay` to the power of its season's age (the latest season
    in training has weight 1)."""
    seasons = np.asarray(seasons, dtype=float)
    return np.power(decay, seasons.max() - seasons) if seasons.size else seasons


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
    means = np.nanmean(x, axis=0)
    scales = np.nanstd(x, axis=0)
    scales[scales == 0] = 1.0
    structural = "league_home_edge" in inputs.columns
    if structural:
        means[[i for i, col in enumerate(inputs.columns) if col in EDGE_INPUTS]] = 0.0
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


def fit_lightgbm(
    fit_x: pd.DataFrame,
    fit_y: np.ndarray,
    valid_x: pd.DataFrame,
    valid_y: np.ndarray,
    cfg: LightGBMConfig,
    seed: int,
    fit_weights: np.ndarray | None = None,
) -> str:
    """Train a LightGBM booster with early stopping on the validation games; returns the
    native text model (what `lightgbm.Booster(model_str=...)` loads)."""
    import lightgbm as lgb

    params = {
        "objective": "binary",
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
    train = lgb.Dataset(fit_x, fit_y, weight=fit_weights)
    valid = lgb.Dataset(valid_x, valid_y, reference=train)
    booster = lgb.train(
        params,
        train,
        num_boost_round=cfg.max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    return booster.model_to_string(num_iteration=booster.best_iteration)


def predict_lightgbm(model: str, inputs: pd.DataFrame) -> np.ndarray:
    """Probabilities from a native LightGBM text model."""
    import lightgbm as lgb

    return np.asarray(lgb.Booster(model_str=model).predict(inputs), dtype=float)


class FoldModels(BaseModel):
    """Everything one fold fitted."""

    home_rate: float
    elo: LogisticModel
    logistic: LogisticModel
    lightgbm: str | None = None
    calibration: Calibration | None = None
    blend_weight: float
    with_market: LogisticModel | None = None


# The market variant needs at least this many training games with a price.
MIN_MARKET_GAMES = 200


def market_logit(frame: pd.DataFrame) -> np.ndarray:
    """Logit of the market's vig-free home-win probability (NaN without both moneylines)."""
    p = market_probability(
        frame["home_ml"].to_numpy(dtype=float, na_value=np.nan),
        frame["away_ml"].to_numpy(dtype=float, na_value=np.nan),
    )
    return np.log(p / (1 - p))


def market_variant_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The logistic model's inputs plus the market's logit."""
    return model_inputs(frame, features).assign(market_logit=market_logit(frame))


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
    if "lightgbm" in cfg.models or "blend" in cfg.models:
        fit, valid = inner_split(train["event_timestamp"], cfg.inner_valid_share)
        booster = fit_lightgbm(
            inputs[fit], y[fit], inputs[valid], y[valid], cfg.lightgbm, cfg.seed, weights[fit]
        )
        raw = predict_lightgbm(booster, inputs[valid])
        models.lightgbm = booster
        models.calibration = fit_calibration(raw, y[valid], cfg.calibration)
    return models


def predict_models(models: FoldModels, frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Every model's and baseline's probability of a home win for `frame`'s games."""
    inputs = model_inputs(frame, features)
    neutral = frame["neutral"].to_numpy(dtype=bool)
    out = pd.DataFrame(index=frame.index)
    out["p_home_rate"] = np.where(neutral, 0.5, models.home_rate)
    if "home__elo_pre" in frame:  # a model on a feature subset may be served without Elo
        out["p_elo"] = models.elo.predict(elo_inputs(frame))
    out["p_logistic"] = models.logistic.predict(inputs)
    if models.lightgbm is not None and models.calibration is not None:
        out["p_lightgbm"] = models.calibration.apply(predict_lightgbm(models.lightgbm, inputs))
        w = models.blend_weight
        out["p_blend"] = w * out["p_lightgbm"] + (1 - w) * out["p_logistic"]
    if models.with_market is not None and "home_ml" in frame:
        inputs_m = market_variant_inputs(frame, features)
        priced = inputs_m["market_logit"].notna().to_numpy()
        out["p_market"] = np.where(priced, 1 / (1 + np.exp(-inputs_m["market_logit"])), np.nan)
        out["p_with_market"] = np.where(priced, models.with_market.predict(inputs_m), np.nan)
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


def oof_columns(test: pd.DataFrame, fold: Fold) -> pd.DataFrame:
    """The identifying columns of out-of-fold predictions."""
    return pd.DataFrame(
        {
            "game_id": test["game_id"],
            "season": test["season"],
            "event_timestamp": test["event_timestamp"],
            "home_team": test["home_team"],
            "away_team": test["away_team"],
            "neutral": test["neutral"],
            LABEL: test[LABEL],
            "home_ml": test["home_ml"],
            "away_ml": test["away_ml"],
            "playoff": test.get("playoff", False),
            "home_back_to_back": test.get("home__back_to_back", np.nan),
            "away_back_to_back": test.get("away__back_to_back", np.nan),
            "fold": fold.number,
            "block": fold.block,
        }
    )
