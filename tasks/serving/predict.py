"""Batch predictions of upcoming games from the online feature store.

Feast's online store keeps each team's current state; a game's features are both teams' states
turned pregame with the game's context from the schedule (`TeamFeatureStore.online_features`).
So every upcoming game, even one whose teams play other games first, is scored in one read,
and serving never writes to the store.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.features.sources import GAME, TEAM, frame_columns
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.model.inputs import LINE_INPUTS, model_example
from gameline.tasks.model.targets import PRICE_COLUMNS
from gameline.tasks.registry.aliases import CHALLENGER, PromotionError
from gameline.tasks.registry.evaluation import missing_recipe, takes_outputs
from gameline.tasks.registry.mlflow_registry import Registry

# Buckets of the A/B hash: the challenger serves a game when its bucket < share * BUCKETS.
BUCKETS = 10_000


def upcoming_games(
    games: pd.DataFrame, now: datetime, horizon_hours: float, timezone: str = "UTC"
) -> pd.DataFrame:
    """Scheduled games starting in [now, now + horizon), in start order; when none does, the
    games of the league's next game day (the local date, in `timezone`, of its next scheduled
    game), so a run after a day without games still scores the next slate."""
    start = games["start_time"]
    later = games[(games["status"] == "scheduled") & (start >= pd.Timestamp(now))]
    later = later.sort_values(["start_time", "game_id"], kind="stable")
    inside = later[later["start_time"] < pd.Timestamp(now) + pd.Timedelta(hours=horizon_hours)]
    if len(inside) or later.empty:
        return inside
    day = later["start_time"].dt.tz_convert(timezone).dt.date
    return later[day == day.iloc[0]]


def nothing_to_score(games: pd.DataFrame, now: datetime) -> str:
    """Why a predict run scores no game."""
    if not (games["status"] == "scheduled").any():
        return "the game store holds no scheduled game: ingest a schedule first"
    return f"no scheduled game starts after {now:%Y-%m-%d %H:%M} UTC"


def ab_bucket(game_id: str) -> int:
    """A game's stable A/B bucket in [0, BUCKETS): the same game always lands in the same arm."""
    return int.from_bytes(hashlib.sha256(game_id.encode()).digest()[:8], "big") % BUCKETS


def challenger_serves(game_ids: pd.Series, share: float) -> np.ndarray:
    """True for the games the challenger serves under an A/B share (0 to 1)."""
    limit = round(share * BUCKETS)
    return np.array([ab_bucket(str(g)) < limit for g in game_ids], dtype=bool)


class ServedModel:
    """A registered version as served: its pyfunc and the features it takes."""

    def __init__(self, version: str, model: Any, features: list[str]) -> None:
        self.version = version
        self.model = model
        self.features = features

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(model_example(rows, self.features)), dtype=float)

    def score(self, rows: pd.DataFrame) -> pd.DataFrame:
        """P(home win) (`p_home`) and, from a version with margin and total models, the fair
        spread and total and P(cover), P(over) at the rows' lines (`PRICE_COLUMNS`; NaN from
        a version without them: one registered before they existed)."""
        example = model_example(rows, self.features)
        if takes_outputs(self.model):
            scored = pd.DataFrame(self.model.predict(example, params={"outputs": "all"}))
        else:
            scored = pd.DataFrame({"p_home": np.asarray(self.model.predict(example), dtype=float)})
        for column in PRICE_COLUMNS:
            if column not in scored:
                scored[column] = np.nan
        return scored.reset_index(drop=True)


def served_model(
    registry: Registry, alias: str, warn: Callable[..., None] | None = None
) -> ServedModel | None:
    """The version behind an alias, loaded as it is served (None without that alias). A
    version whose registration was cut short (no recipe tags) is never served: a challenger so
    is skipped with a warning, a champion so is an error."""
    version = registry.alias_version(alias)
    if version is None:
        return None
    tags = registry.version_tags(version)
    missing = missing_recipe(tags)
    if missing:
        if alias == CHALLENGER:
            (warn or logging.getLogger(__name__).warning)(
                "challenger v%s has no recipe tags %s: not shadowed", version, missing
            )
            return None
        raise PromotionError(
            f"{alias} v{version} has no recipe tags {missing}: roll back to a complete version "
            "(`gameline rollback --to N`)"
        )
    return ServedModel(version, registry.load_version(version), tags["features"].split(","))


def score_games(
    store: TeamFeatureStore,
    games: pd.DataFrame,
    context: pd.DataFrame,
    now: datetime,
    champion: ServedModel,
    challenger: ServedModel | None,
    offline: bool = False,
) -> pd.DataFrame:
    """Features of the games (online; from the offline store with `offline`, the same values),
    and each model's probability."""
    read = store.offline_features if offline else store.online_features
    rows = read(games, context, now).reset_index(drop=True)
    rows["neutral"] = games["neutral"].to_numpy(dtype=bool)
    for line in LINE_INPUTS:  # the posted lines, where the store has them
        posted = games[line] if line in games else pd.Series(np.nan, index=games.index)
        rows[line] = posted.to_numpy(dtype="float64", na_value=np.nan)
    scored = champion.score(rows)
    rows["p_champion"] = scored["p_home"].to_numpy()
    for column in PRICE_COLUMNS:
        rows[f"{column}_champion"] = scored[column].to_numpy()
    rows["p_challenger"] = np.nan
    if challenger:
        shadow = challenger.score(rows)
        rows["p_challenger"] = shadow["p_home"].to_numpy()
        for column in PRICE_COLUMNS:
            rows[f"{column}_challenger"] = shadow[column].to_numpy()
    return rows


def served_predictions(
    scored: pd.DataFrame,
    model: str,
    champion: ServedModel,
    challenger: ServedModel | None,
    challenger_share: float,
    now: datetime,
    results_until: datetime | None,
    feature_source: str = "online",
) -> pd.DataFrame:
    """The served predictions: one row per game, the champion's (or, in the A/B arm, the
    challenger's) probability, the shadow probability beside it, and feature provenance."""
    arm = (
        challenger_serves(scored["game_id"], challenger_share)
        if challenger
        else np.zeros(len(scored), dtype=bool)
    )
    table = pd.DataFrame(
        {
            "game_id": scored["game_id"].astype(str),
            "start_time": scored["event_timestamp"],
            "home_team": scored["home_team"].astype(str),
            "away_team": scored["away_team"].astype(str),
            "p_home": np.where(arm, scored["p_challenger"], scored["p_champion"]),
            "served_by": np.where(arm, "challenger", "champion"),
            "model_name": model,
            "model_version": np.where(
                arm, challenger.version if challenger else "", champion.version
            ),
            "p_champion": scored["p_champion"],
            "champion_version": champion.version,
            "p_challenger": scored["p_challenger"],
            "challenger_version": challenger.version if challenger else None,
            **{line: scored.get(line, np.nan) for line in LINE_INPUTS},
            **{column: served_column(scored, column, arm) for column in PRICE_COLUMNS},
            "home_feature_ts": scored["home_feature_ts"],
            "away_feature_ts": scored["away_feature_ts"],
            "features_match_game": scored["feature_time_matches_game"],
            "features_stale": scored["stale"],
            "results_until": pd.Timestamp(results_until) if results_until else pd.NaT,
            "results_age_h": (pd.Timestamp(now) - pd.Timestamp(results_until)).total_seconds()
            / 3600
            if results_until
            else np.nan,
            "predicted_at": pd.Timestamp(now),
            "feature_source": feature_source,  # online, or offline when the online store was down
            "missing_features": missing_features(scored, champion.features),
        }
    )
    return table


def served_column(scored: pd.DataFrame, column: str, arm: np.ndarray) -> np.ndarray:
    """A priced column (`PRICE_COLUMNS`) from the model that serves each game."""
    if f"{column}_champion" not in scored:
        return np.full(len(scored), np.nan)
    champion = scored[f"{column}_champion"].to_numpy(dtype=float)
    if f"{column}_challenger" not in scored:
        return champion
    return np.where(arm, scored[f"{column}_challenger"].to_numpy(dtype=float), champion)


def missing_features(rows: pd.DataFrame, features: list[str]) -> list[str | None]:
    """Per game, the sourced features a model takes that have no value for it (a line not
    posted yet, a team without a timeline entry): served as NaN, never filled from another
    game; None where every one is there."""
    sourced = [f for f in features if f.startswith((GAME, TEAM))]
    missing: list[list[str]] = [[] for _ in range(len(rows))]
    for feature in sourced:
        absent = rows[frame_columns(feature)].isna().any(axis=1).to_numpy()
        for i in np.flatnonzero(absent):
            missing[i].append(feature)
    return [", ".join(names) if names else None for names in missing]
