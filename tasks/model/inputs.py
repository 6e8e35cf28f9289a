"""The model's inputs, built the same way for training, the gate and serving: which features a
model uses, the home-minus-away differences and side inputs derived from them, the Elo
baseline's and the market variant's inputs, and the frame the registered pyfunc takes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gameline.tasks.config import GamelineConfig, TrainConfig
from gameline.tasks.features.sources import GAME, TEAM, frame_columns, source_features
from gameline.tasks.features.team import SCORING_FEATURES, feature_columns
from gameline.tasks.model.metrics import market_probability

# Side-specific inputs LightGBM gets besides the home-minus-away differences.
SIDE_INPUTS = ("rest_days", "back_to_back")
# Differences the logistic model also gets multiplied by how far the season is (0 to 1).
PROGRESS_INTERACTIONS = ("elo_pre", "win_pct_season", "margin_season")
# Inputs whose zero means "no home edge" (a neutral site): the logistic models keep them
# uncentred and fit no intercept when the league's point-in-time home edge is an input, so the
# home advantage moves with the league's recent home margin instead of sitting in a constant
# learnt from older seasons (the NBA's shrank by half in 2020-21).
EDGE_INPUTS = ("league_home_edge", "neutral")
# The prefix of a sourced input's missing indicator.
MISSING = "missing__"


def model_features(available: list[str], cfg: TrainConfig) -> list[str]:
    """The features the models use: `cfg.features` (checked against what the feature store
    has), else all of them."""
    if cfg.features is None:
        return available
    unknown = [f for f in cfg.features if f not in available]
    if unknown:
        raise ValueError(f"train.features {unknown} are not features; known: {available}")
    return [f for f in available if f in cfg.features]


def floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as NumPy floats, NaN where missing (nullable dtypes included)."""
    return frame[column].to_numpy(dtype="float64", na_value=np.nan)


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Home-minus-away differences of every feature, season-to-date differences times season
    progress, the neutral flag, the league's home edge, and side-specific rest inputs (NaN where
    a team has no history yet). Built on NumPy columns and framed once: a day's few games are
    priced many times in a replay, where pandas' per-operation cost was most of the time."""
    builtin = [f for f in features if not f.startswith((GAME, TEAM, *SCORING_FEATURES))]
    inputs = {
        f"diff__{f}": floats(frame, f"home__{f}") - floats(frame, f"away__{f}") for f in builtin
    }
    if "season_progress" in features:  # season-to-date numbers deserve more trust as it goes on
        progress = np.minimum(
            (floats(frame, "home__season_progress") + floats(frame, "away__season_progress")) / 2,
            1.0,
        )
        for name in PROGRESS_INTERACTIONS:
            if name in features:
                diff = inputs[f"diff__{name}"]
                inputs[f"{name}_x_progress"] = np.where(np.isnan(diff), 0.0, diff) * progress
    inputs["neutral"] = floats(frame, "neutral")
    if "league_home_margin" in features:  # the home edge the league shows lately, if not neutral
        inputs["league_home_edge"] = floats(frame, "home__league_home_margin") * (
            1 - inputs["neutral"]
        )
    for side in ("home", "away"):
        for name in SIDE_INPUTS:
            if name in features:
                inputs[f"{side}__{name}"] = floats(frame, f"{side}__{name}")
    inputs.update(source_inputs(frame, [f for f in features if f.startswith((GAME, TEAM))]))
    return pd.DataFrame(inputs, index=frame.index)


def source_inputs(frame: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    """The feature sources' inputs: a game fact as it is, a team feature as home minus away;
    each with a missing indicator (`missing__<name>`: the logistic model takes a missing value
    at the training mean, the indicator lets it learn what missing means; LightGBM reads NaN
    itself)."""
    inputs: dict[str, np.ndarray] = {}
    for feature in features:
        values = [floats(frame, c) for c in frame_columns(feature)]
        if feature.startswith(GAME):
            value = values[0]
            name = feature
        else:
            value = values[0] - values[1]
            name = f"diff__{feature.removeprefix(TEAM)}"
        inputs[name] = value
        inputs[MISSING + feature] = np.isnan(value).astype("float64")
    return inputs


def elo_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The Elo baseline's inputs (Elo difference, neutral flag, the league's home edge where
    the feature store has it), whatever features the models use."""
    names = ["elo_pre"] + (["league_home_margin"] if "home__league_home_margin" in frame else [])
    inputs = model_inputs(frame, names)
    columns = ["diff__elo_pre", "neutral"] + (
        ["league_home_edge"] if "league_home_edge" in inputs else []
    )
    return inputs[columns]


def market_logit(frame: pd.DataFrame) -> np.ndarray:
    """Logit of the market's vig-free home-win probability (NaN without both moneylines)."""
    p = market_probability(floats(frame, "home_ml"), floats(frame, "away_ml"))
    return np.log(p / (1 - p))


def market_variant_inputs(
    frame: pd.DataFrame, features: list[str], inputs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The logistic model's inputs (`inputs` where they are already built) plus the market's
    logit."""
    inputs = model_inputs(frame, features) if inputs is None else inputs
    return inputs.assign(market_logit=market_logit(frame))


def selected_features(config: GamelineConfig) -> list[str]:
    """The features a model trained on this config uses (the one place this is decided)."""
    available = feature_columns(config.features) + source_features(config.features)
    return model_features(available, config.train)


def feature_frame_columns(features: list[str]) -> list[str]:
    """A game frame's columns of a model's features: each built-in one's home__ then away__
    columns, then the sources' (home__/away__ of a team feature, game__ of a game fact)."""
    builtin = [f for f in features if not f.startswith((GAME, TEAM))]
    columns = [f"{side}__{f}" for side in ("home", "away") for f in builtin]
    return columns + [c for f in features if f.startswith((GAME, TEAM)) for c in frame_columns(f)]


def model_example(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The registered pyfunc's input for some games: home__*/away__* features (the built-in
    ones, then the sources' team features), game__* facts, `neutral`, and the game's lines
    (NaN where the frame has none)."""
    example = frame[feature_frame_columns(features)].astype("float64").copy()
    example["neutral"] = frame["neutral"].to_numpy(dtype=bool)
    for line in LINE_INPUTS:  # where the margin and total models price a game's lines
        posted = frame[line] if line in frame else pd.Series(np.nan, index=frame.index)
        example[line] = posted.to_numpy(dtype="float64", na_value=np.nan)
    return example.reset_index(drop=True)


# The game's posted lines, which a served model prices P(cover) and P(over) at.
LINE_INPUTS = ("home_spread", "total_line")
