"""The daily loop: ingest -> validate -> features -> Feast -> monitor -> (retrain -> gate, only
when a trigger fires) -> predict. Every run records which trigger fired, or why none did."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from prefect import flow, task
from pydantic import BaseModel

from gameline.flows.common import ADAPTER_TASK, IO_RETRIES
from gameline.flows.gate import gate_flow
from gameline.flows.ingest import IngestSummary, ingest_stage
from gameline.flows.monitor import MonitorSummary, monitor_stage
from gameline.flows.predict import PredictSummary, predict_stage
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import league_now
from gameline.tasks.monitoring.monitor import new_finished_games
from gameline.tasks.monitoring.triggers import (
    RetrainDecision,
    append_retrain,
    decide_retrain,
    last_retrain,
    read_retrains,
)
from gameline.tasks.registry.aliases import CHAMPION, Outcome
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.tracking import TrainingRecord


class PipelineSummary(BaseModel):
    """What every stage of one daily run did."""

    ingest: IngestSummary
    monitor: MonitorSummary
    retrain: RetrainDecision
    training: TrainingRecord | None = None
    gate: Outcome | None = None
    predictions: PredictSummary | None = None
    note: str | None = None


@task(name="retrain-decision", **IO_RETRIES, **ADAPTER_TASK)
def retrain_decision(
    config: GamelineConfig,
    registry: Registry,
    monitored: MonitorSummary,
    manual: bool,
    now: datetime,
) -> RetrainDecision:
    """Whether to retrain now, and on which trigger; appended to the retrain log."""
    paths = state_paths(config)
    champion = registry.alias_version(CHAMPION)
    trained_until = (
        pd.Timestamp(registry.version_tags(champion)["trained_until"]).to_pydatetime()
        if champion
        else None
    )
    previous = last_retrain(read_retrains(paths.retrain_log))
    since = max(
        (d for d in (trained_until, previous.data_until if previous else None) if d),
        default=None,
    )
    games = read_store(paths.raw_games)
    finals = games[games["status"] == "final"]
    active = {a.kind for a in [*monitored.opened, *monitored.continuing]}
    decision = decide_retrain(
        manual=manual,
        champion=champion,
        trained_until=trained_until,
        active_kinds=active,
        last_retrain=previous.decided_at if previous else None,
        new_games=new_finished_games(games, since),
        data_until=finals["start_time"].max().to_pydatetime() if len(finals) else None,
        now=now,
        cfg=config.retrain,
    )
    append_retrain(paths.retrain_log, decision)
    return decision


@flow(name="daily", flow_run_name="daily-{config.name}")
def pipeline_flow(
    config: GamelineConfig,
    file: Path | None = None,
    retrain: bool = False,
    now: datetime | None = None,
) -> PipelineSummary:
    """Ingest and validate the source, rebuild features and publish them to Feast, watch the
    champion, retrain and gate only when a trigger fires (`retrain`: by hand), and score the
    upcoming games."""
    now = now or league_now(config)
    # The stages run as this flow's tasks; train and gate are subflows (only when retraining).
    ingested = ingest_stage(config, file)
    monitored = monitor_stage(config, now)
    registry = Registry.from_config(config)
    decision = retrain_decision(config, registry, monitored, retrain, now)
    summary = PipelineSummary(ingest=ingested, monitor=monitored, retrain=decision)
    if decision.retrain:
        reason = {"retrain_trigger": str(decision.trigger), "retrain_reason": decision.detail}
        summary.training = train_flow(config, reason)
        summary.gate = gate_flow(config, summary.training.model_version)
    if registry.alias_version(CHAMPION) is None:
        summary.note = "no champion yet, so no predictions: the first challenger did not pass"
        return summary
    summary.predictions = predict_stage(config, now)
    return summary
