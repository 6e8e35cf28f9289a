"""Predict flow: the champion (and the challenger in shadow) scores the upcoming games from the
online feature store; the predictions table and a Prefect table artifact."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from gameline.flows.common import (
    ADAPTER_TASK,
    IO_RETRIES,
    ConfigRef,
    alert_url,
    artifact_key,
    heal_task,
    log_stage,
    resolve,
    run_logger,
    run_name,
)
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import league_now
from gameline.tasks.facts import Facts, FactTable
from gameline.tasks.features.context import game_context
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.monitoring.notify import Notifier
from gameline.tasks.records import PREDICTIONS, records_for
from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, PromotionError
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predict import (
    ServedModel,
    nothing_to_score,
    score_games,
    served_model,
    served_predictions,
    upcoming_games,
)
from gameline.tasks.serving.predictions import (
    SHOWN_COLUMNS,
    json_records,
    predictions_facts,
    store_predictions,
)


class PredictSummary(BaseModel):
    """What a predict run scored and where it went."""

    games: int
    champion_version: str | None
    challenger_version: str | None
    served_by_challenger: int
    path: str | None
    predictions: list[dict[str, object]]
    note: str | None = None  # why nothing was scored
    degraded: str | None = None  # served from the offline store: why, and the alert sent
    healed: list[str] = []  # derived stores found damaged and rebuilt before scoring

    def facts(self) -> Facts:
        """The games scored, by which versions, and where they went."""
        shadow = (
            f", challenger v{self.challenger_version} in shadow" if self.challenger_version else ""
        )
        if self.note:
            line = f"predict: nothing scored: {self.note}"
        else:
            degraded = f"; {self.degraded}" if self.degraded else ""
            line = (
                f"predict: {self.games} upcoming games scored by champion "
                f"v{self.champion_version}{shadow}{degraded}"
            )
        title = f"{self.games} upcoming games: champion v{self.champion_version}{shadow}"
        blocks: list[FactTable | str] = [predictions_facts(self.predictions, title)]
        if self.note:
            blocks.append(f"nothing scored: {self.note}")
        blocks += [f"rebuilt: {note}" for note in self.healed]
        if self.path:
            blocks.append(f"predictions table: {self.path}")
        return Facts(line=line, blocks=blocks)


@task(name="load-models", **IO_RETRIES, **ADAPTER_TASK)
def load_models(registry: Registry) -> tuple[ServedModel, ServedModel | None]:
    champion = served_model(registry, CHAMPION, run_logger().warning)
    if champion is None:
        raise PromotionError(
            f"{registry.model_name} has no {CHAMPION} yet: train, then `gameline gate`"
        )
    return champion, served_model(registry, CHALLENGER, run_logger().warning)


# A read: safe to retry.
@task(name="score-upcoming", **IO_RETRIES, **ADAPTER_TASK)
def score_upcoming(
    config: GamelineConfig,
    store: TeamFeatureStore,
    model_name: str,
    now: datetime,
    champion: ServedModel,
    challenger: ServedModel | None,
    offline: bool = False,
) -> tuple[pd.DataFrame, str | None]:
    """Every upcoming game in the horizon (or the next game day), from the online store (the
    offline store with `offline`); the predictions table rows, or why there are none."""
    games = read_store(state_paths(config).raw_games)
    horizon = config.predict.horizon_hours
    upcoming = upcoming_games(games, now, horizon, config.league.timezone)
    if upcoming.empty:
        return pd.DataFrame(columns=SHOWN_COLUMNS), nothing_to_score(games, now)
    finals = games[games["status"] == "final"]
    duration = pd.Timedelta(hours=config.league.game_duration_hours)
    results_until = (finals["start_time"].max() + duration).to_pydatetime() if len(finals) else None
    context = game_context(games, config.features, config.league)
    scored = score_games(store, upcoming, context, now, champion, challenger, offline)
    table = served_predictions(
        scored,
        model_name,
        champion,
        challenger,
        config.predict.challenger_share,
        now,
        results_until,
        "offline" if offline else "online",
    )
    return table, None


def online_store_down(config: GamelineConfig, why: str) -> str:
    """Say that predictions came from the offline store: a warning in the run's log and an
    alert notification; returns the line for the summary and the artifact."""
    run_logger().warning("online store down, features from the offline store: %s", why)
    delivery = Notifier(alert_url(config.alerts)).send(
        f"Gameline {config.name}: online store down, serving from the offline store",
        f"{why}. The predictions of this run use the offline store's features (the same "
        "values the online store would serve); the online store is loaded again by the next "
        "ingest that finds it up.",
    )
    alerted = (
        "alert sent"
        if delivery.delivered
        else "no alert target"
        if not delivery.attempted
        else "alert not delivered"
    )
    return f"features from the offline store: the online store is down ({why}); {alerted}"


@flow(name="predict", flow_run_name=run_name("predict"))
def predict_flow(config: ConfigRef, now: datetime | None = None) -> PredictSummary:
    """Score the games of the next `predict.horizon_hours` with the champion (the challenger in
    shadow, or serving its A/B share); append them to the predictions table."""
    config = resolve(config, "predict")
    return predict_stage(config, now or league_now(config))


def predict_stage(config: GamelineConfig, now: datetime, heal: bool = True) -> PredictSummary:
    """The predict flow's tasks, run inside whichever flow calls this (`heal`: check the
    derived stores first; the daily run's ingest has)."""
    registry = Registry.from_config(config)
    champion, challenger = load_models(registry)
    healed: list[str] = heal_task(config) if heal else []
    store = TeamFeatureStore.from_config(config)
    # The fallback: with the online store down, the same features from the offline store.
    down = store.online_down()
    table, note = score_upcoming(
        config, store, registry.model_name, now, champion, challenger, down is not None
    )
    degraded = online_store_down(config, down) if down else None
    path = None
    if len(table):
        records = records_for(config)
        store_predictions(records, table)
        path = records.where(PREDICTIONS)
    create_table_artifact(
        key=artifact_key(f"predictions-{config.name}"),
        table=json_records(table[SHOWN_COLUMNS].round(4)) if len(table) else [],
        description=(note or f"{len(table)} games, champion v{champion.version}")
        + (f"; {degraded}" if degraded else ""),
        _sync=True,  # also from the async daily flow's body
    )
    summary = PredictSummary(
        games=len(table),
        champion_version=champion.version,
        challenger_version=challenger.version if challenger else None,
        served_by_challenger=int((table["served_by"] == "challenger").sum()) if len(table) else 0,
        path=path,
        predictions=json_records(table.head(50)) if len(table) else [],
        note=note,
        degraded=degraded,
        healed=healed,
    )
    log_stage(summary.facts().line)
    return summary
