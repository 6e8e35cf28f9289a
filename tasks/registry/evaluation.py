"""Challenger and champion scored on the same recent games, which neither trained on.

- `gate_window` picks the latest finished games; only games that started at least `BLOCK_GAP`
  before the window may train a model judged on it.
- `evaluate` scores the challenger (its recipe retrained up to the window) and the champion (as
  registered when its training ended before the window, else its recipe retrained up to it) and
  the Elo baseline on those games.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GateConfig, TrainConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.folds import BLOCK_GAP
from gameline.tasks.model.inputs import feature_frame_columns, model_example
from gameline.tasks.model.line_scores import line_family
from gameline.tasks.model.targets import line_labels
from gameline.tasks.model.train import fit_models, predict_models
from gameline.tasks.registry.mlflow_registry import Registry, RegistryError


@dataclass(frozen=True)
class Recipe:
    """How a registered version was trained: enough to retrain it on other games."""

    version: str
    train: TrainConfig
    features: list[str]
    family: str
    trained_until: pd.Timestamp


class VersionLoader(Protocol):
    """Where `evaluate` loads a registered version from: the `Registry`, or the replay's
    models in memory."""

    def load_version(self, version: str) -> Any: ...


# The tags that make a version servable and judgeable (written before any alias points at it).
RECIPE_TAGS = ("train_config", "features", "family", "trained_until")


def missing_recipe(tags: dict[str, str]) -> list[str]:
    """The recipe tags a version lacks (a registration cut short leaves a version without)."""
    return [key for key in RECIPE_TAGS if key not in tags]


def recipe(tags: dict[str, str], version: str) -> Recipe:
    """The recipe recorded in a model version's tags (see `tracking.recipe_tags`)."""
    missing = missing_recipe(tags)
    if missing:
        raise RegistryError(f"model version {version} has no recipe tags {missing}")
    return Recipe(
        version=version,
        train=TrainConfig.model_validate_json(tags["train_config"]),
        features=tags["features"].split(","),
        family=tags["family"],
        trained_until=pd.Timestamp(tags["trained_until"]),
    )


def gate_window(
    frame: pd.DataFrame, cfg: GateConfig, after: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(games a model may train on, the window of latest finished games it is judged on).

    `after` (a refresh: the champion's training end): the window is the newer half of the games
    that started after it, at most `window_games`, so the champion as registered has never seen
    them and the refresh has trained on the older half: the comparison measures what the newer
    games add."""
    played = frame[frame[LABEL].notna()].sort_values("event_timestamp", kind="stable")
    if after is None:
        window = played.tail(cfg.window_games)
    else:
        unseen = played[played["event_timestamp"] > after + BLOCK_GAP]
        window = unseen.tail(min(cfg.window_games, len(unseen) // 2))
    if window.empty:
        return played, window
    start = window["event_timestamp"].min()
    return played[played["event_timestamp"] <= start - BLOCK_GAP], window


class Evaluation(BaseModel):
    """Per-game probabilities of the challenger, the champion and Elo on the same window."""

    challenger_version: str
    champion_version: str | None
    champion_source: Literal["registered", "retrained", "none"]
    window_start: datetime | None
    window_end: datetime | None
    game_ids: list[str]
    y: list[float]
    p_challenger: list[float]
    p_champion: list[float] | None
    p_elo: list[float]
    note: str | None = None  # why there are no games to judge on, when there are none
    # The margin and total at the lines, by side ("cover", "over"): 1/0 per game (NaN: a push
    # or no line) and each model's probability (a champion without line models has none).
    line_y: dict[str, list[float]] = {}
    line_challenger: dict[str, list[float]] = {}
    line_champion: dict[str, list[float]] = {}
    # The challenger is the champion's own recipe on newer games (see `is_refresh`), judged on
    # the newer half of the games the champion never saw.
    refresh: bool = False


def _retrained(
    recipe_: Recipe, train: pd.DataFrame, window: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(family, Elo, at-the-lines) probabilities for the window from the recipe retrained on
    `train`."""
    models = fit_models(train, recipe_.features, recipe_.train)
    predicted = predict_models(models, window, recipe_.features)
    lines = line_family(predicted, recipe_.family)
    at_lines = {
        side: predicted[f"{side}_{lines}"].to_numpy(dtype=float)
        for side in LINE_SIDES
        if lines is not None
    }
    return predicted[f"p_{recipe_.family}"].to_numpy(), predicted["p_elo"].to_numpy(), at_lines


def _registered(
    registry: VersionLoader, recipe_: Recipe, window: pd.DataFrame
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The registered version's own probabilities for the window (its pyfunc, as served): of a
    home win, and at the lines where the version prices them."""
    model = registry.load_version(recipe_.version)
    example = model_example(window, recipe_.features)
    if not takes_outputs(model):
        return np.asarray(model.predict(example), dtype=float), {}
    scored = pd.DataFrame(model.predict(example, params={"outputs": "all"}))
    at_lines = {
        side: scored[f"p_{side}"].to_numpy(dtype=float)
        for side in LINE_SIDES
        if f"p_{side}" in scored
    }
    return scored["p_home"].to_numpy(dtype=float), at_lines


def takes_outputs(model: Any) -> bool:
    """True for a pyfunc whose signature has the `outputs` parameter (everything it prices:
    a version registered before the margin and total models has not)."""
    metadata = getattr(model, "metadata", None)
    schema = metadata.get_params_schema() if metadata is not None else None
    return schema is not None and any(p.name == "outputs" for p in schema.params)


# The sides the margin and total models price, and the target each belongs to.
LINE_SIDES = {"cover": "margin", "over": "total"}


def is_refresh(challenger: Recipe, champion: Recipe) -> bool:
    """The challenger is the champion's recipe (settings, features, family) trained on newer
    games: what a scheduled or triggered retrain registers."""
    return (
        challenger.train == champion.train
        and challenger.features == champion.features
        and challenger.family == champion.family
        and challenger.trained_until > champion.trained_until
    )


def version_recipe(registry: Registry, version: str) -> Recipe:
    """The recipe in a registered version's tags."""
    return recipe(registry.version_tags(version), version)


def evaluate(
    registry: VersionLoader,
    frame: pd.DataFrame,
    gate: GateConfig,
    challenger: Recipe,
    champion: Recipe | None,
) -> Evaluation:
    """Score challenger, champion and Elo on the gate window of `frame` (the training set). A
    refresh (the champion's own recipe on newer games) is judged on the newer half of the games
    the champion never saw (`gate_window`), against the champion as registered: retrained up to
    one window, both would be the same model there."""
    refresh = champion is not None and is_refresh(challenger, champion)
    after = champion.trained_until if refresh and champion is not None else None
    train, window = gate_window(frame, gate, after)
    note = None
    if refresh and len(window) < gate.min_games:
        note = (
            f"a refresh is judged on the newer half of the games since the champion's training "
            f"(here {len(window)}); it needs {2 * gate.min_games} finished games since then"
        )
    if not window.empty and train.empty:
        note = (
            f"all {len(window)} finished games fall in the gate window (window_games "
            f"{gate.window_games}), so none is left to train a model judged on it"
        )
        window = window.iloc[0:0]
    lines_new: dict[str, np.ndarray] = {}
    lines_old: dict[str, np.ndarray] = {}
    if window.empty:
        p_challenger = p_elo = np.array([])
        p_champion = None if champion is None else np.array([])
        source: Literal["registered", "retrained", "none"] = "none"
    else:
        p_challenger, p_elo, lines_new = _retrained(challenger, train, window)
        p_champion, source = None, "none"
        if champion is not None:
            missing = [
                f for f in champion.features
                if any(c not in window for c in feature_frame_columns([f]))
            ]  # fmt: skip
            if missing:
                raise RegistryError(
                    f"champion v{champion.version} needs features {missing} that the feature "
                    "store no longer has"
                )
            if champion.trained_until <= window["event_timestamp"].min() - BLOCK_GAP:
                p_champion, lines_old = _registered(registry, champion, window)
                source = "registered"
            else:
                p_champion, _, lines_old = _retrained(champion, train, window)
                source = "retrained"
    starts = window["event_timestamp"]
    return Evaluation(
        challenger_version=challenger.version,
        champion_version=champion.version if champion else None,
        champion_source=source,
        window_start=starts.min().to_pydatetime() if len(window) else None,
        window_end=starts.max().to_pydatetime() if len(window) else None,
        game_ids=window["game_id"].astype(str).tolist(),
        y=window[LABEL].astype(float).tolist(),
        p_challenger=[float(v) for v in p_challenger],
        p_champion=None if p_champion is None else [float(v) for v in p_champion],
        p_elo=[float(v) for v in p_elo],
        note=note,
        refresh=refresh,
        line_y={
            side: line_labels(window, target).tolist()
            for side, target in LINE_SIDES.items()
            if side in lines_new
        },
        line_challenger={side: p.tolist() for side, p in lines_new.items()},
        line_champion={side: p.tolist() for side, p in lines_old.items() if side in lines_new},
    )
