"""Predict flow: upcoming games -> online features (Feast) -> champion probabilities, the
challenger beside it in shadow (or serving its A/B share) -> the predictions table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from gameline.flows.ingest import IO_RETRIES
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.features.store import open_store
from gameline.tasks.registry.promote import CHAMPION, PromotionError, alias_version, version_tags
from gameline.tasks.registry.tracking import CHALLENGER, model_name, tracking_uri
from gameline.tasks.serving.predict import (
    SHOWN_COLUMNS,
    ServedModel,
    json_records,
    prediction_rounds,
    predictions_table,
    score_round,
    store_predictions,
    upcoming_games,
)


class PredictSummary(BaseModel):
    """What a predict run scored and where it went."""

    games: int
    rounds: int
    champion_version: str | None
    challenger_version: str | None
    served_by_challenger: int
    path: Path | None
    predictions: list[dict[str, object]]


def served_model(config: GamelineConfig, alias: str) -> ServedModel | None:
    """The version behind an alias, loaded as it is served (None without that alias)."""
    import mlflow

    version = alias_version(config, alias)
    if version is None:
        return None
    mlflow.set_tracking_uri(tracking_uri(config))
    model = mlflow.pyfunc.load_model(f"models:/{model_name(config)}/{version}")
    features = version_tags(config, version)["features"].split(",")
    return ServedModel(version, model, features)


@task(name="load-models", **IO_RETRIES)
def load_models(config: GamelineConfig) -> tuple[ServedModel, ServedModel | None]:
    champion = served_model(config, CHAMPION)
    if champion is None:
        raise PromotionError(
            f"{model_name(config)} has no {CHAMPION} yet: train, then `gameline gate`"
        )
    return champion, served_model(config, CHALLENGER)


@task(name="score-upcoming", **IO_RETRIES)
def score_upcoming(
    config: GamelineConfig,
    now: datetime,
    champion: ServedModel,
    challenger: ServedModel | None,
) -> tuple[pd.DataFrame, int]:
    """Every upcoming game in the horizon, round by round; the predictions table rows."""
    games = read_store(state_paths(config).raw_games)
    upcoming = upcoming_games(games, now, config.predict.horizon_hours)
    finals = games[games["status"] == "final"]
    duration = pd.Timedelta(hours=config.league.game_duration_hours)
    results_until = (finals["start_time"].max() + duration).to_pydatetime() if len(finals) else None
    rounds = prediction_rounds(upcoming)
    store = open_store(config)
    scored = [score_round(config, r, now, champion, challenger, store) for r in rounds]
    if not scored:
        return pd.DataFrame(), 0
    table = predictions_table(
        config,
        pd.concat(scored, ignore_index=True),
        model_name(config),
        champion,
        challenger,
        now,
        results_until,
    )
    return table, len(rounds)


@flow(name="predict")
def predict_flow(config: GamelineConfig, now: datetime | None = None) -> PredictSummary:
    """Score the games of the next `predict.horizon_hours` with the champion (the challenger in
    shadow, or serving its A/B share); append them to the predictions table."""
    now = now or datetime.now(UTC)
    champion, challenger = load_models(config)
    table, rounds = score_upcoming(config, now, champion, challenger)
    path = None
    if len(table):
        store_predictions(config, table)
        path = state_paths(config).predictions
        create_table_artifact(
            key=f"predictions-{config.name}".lower().replace("_", "-"),
            table=json_records(table[SHOWN_COLUMNS].round(4)),
            description=f"{len(table)} games, champion v{champion.version}",
        )
    return PredictSummary(
        games=len(table),
        rounds=rounds,
        champion_version=champion.version,
        challenger_version=challenger.version if challenger else None,
        served_by_challenger=int((table["served_by"] == "challenger").sum()) if len(table) else 0,
        path=path,
        predictions=json_records(table.head(50)),
    )
