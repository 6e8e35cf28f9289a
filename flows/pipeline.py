"""The daily loop: ingest -> validate -> features -> Feast -> monitor -> (retrain -> gate, only
when a trigger fires) -> predict. Every run records which trigger fired, or why none did."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.artifacts import create_markdown_artifact
from prefect.context import SyncClientContext
from pydantic import BaseModel

from gameline.flows.common import (
    ConfigRef,
    artifact_key,
    resolve,
    run_name,
    run_tags,
    subflows,
    tag_run,
)
from gameline.flows.gate import gate_flow
from gameline.flows.ingest import IngestSummary, ingest_stage
from gameline.flows.monitor import MonitorSummary, monitor_stage
from gameline.flows.predict import PredictSummary, predict_stage
from gameline.flows.retrain import retrain_decision
from gameline.flows.train import train_flow
from gameline.tasks.data.sources import league_now
from gameline.tasks.facts import Facts
from gameline.tasks.monitoring.triggers import RetrainDecision
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

    def stages(self) -> list[Facts]:
        """Every stage's facts, in the order they ran (the note, why nothing was predicted,
        last)."""
        stages: list[Any] = [self.ingest, self.monitor, self.retrain, self.training, self.gate]
        facts = [s.facts() for s in [*stages, self.predictions] if s is not None]
        if self.note:
            facts.append(Facts(line=self.note, blocks=[self.note]))
        return facts

    def facts(self) -> Facts:
        """Every stage's blocks; one line per stage."""
        stages = self.stages()
        return Facts(line=self.retrain.facts().line, blocks=[b for f in stages for b in f.blocks])


def daily_markdown(config_name: str, summary: PipelineSummary) -> str:
    """The daily run's summary artifact: one line per stage, as its logs say them."""
    lines = "\n".join(f"- {f.line}" for f in summary.stages())
    return f"# Daily run of {config_name}\n\n{lines}\n"


@flow(name="daily", flow_run_name=run_name("daily"))
async def pipeline_flow(
    config: ConfigRef,
    file: Path | None = None,
    retrain: bool = False,
    now: datetime | None = None,
) -> PipelineSummary:
    """Ingest and validate the source, rebuild features and publish them to Feast, watch the
    champion, retrain and gate only when a trigger fires (`retrain`: by hand), and score the
    upcoming games."""
    # One Prefect client for every task of the run: a sync task in an async flow otherwise
    # opens its own (a TLS context each, about 40 ms).
    with SyncClientContext.get_or_create():
        return daily_stages(config, file, retrain, now)


def daily_stages(
    config: ConfigRef, file: Path | None, retrain: bool, now: datetime | None
) -> PipelineSummary:
    """The daily flow's stages, inside its run."""
    ref, config = config, resolve(config, "daily")
    tag_run(*run_tags(config))
    now = now or league_now(config)
    # The stages run as this flow's tasks; train and gate are subflows (only when retraining).
    ingested = ingest_stage(config, file, online_required=False)
    monitored = monitor_stage(config, now, heal=False)  # ingest checked the derived stores
    registry = Registry.from_config(config)
    active = {a.kind for a in [*monitored.opened, *monitored.continuing]}
    decision = retrain_decision(config, registry, active, "manual" if retrain else None, now)
    summary = PipelineSummary(ingest=ingested, monitor=monitored, retrain=decision)
    if decision.retrain:
        tag_run(f"retrain:{decision.trigger}")
        reason = {"retrain_trigger": str(decision.trigger), "retrain_reason": decision.detail}
        with tags(*run_tags(config, f"trigger:{decision.trigger}")), subflows():
            summary.training = train_flow(ref, reason)
            summary.gate = gate_flow(ref, summary.training.model_version)
    if registry.alias_version(CHAMPION) is None:
        summary.note = "no champion yet, so no predictions: the first challenger did not pass"
        get_run_logger().warning(summary.note)
    else:
        summary.predictions = predict_stage(config, now, heal=False)
    create_markdown_artifact(
        key=artifact_key(f"daily-{config.name}"),
        markdown=daily_markdown(config.name, summary),
        description=decision.facts().line[:200],
        _sync=True,
    )
    return summary
