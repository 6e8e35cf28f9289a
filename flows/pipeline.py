"""The whole pipeline: ingest -> validate -> features -> Feast -> train -> register -> gate ->
predict. Monitoring joins with its issue."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel

from gameline.flows.gate import gate_flow
from gameline.flows.ingest import IngestSummary, ingest_flow
from gameline.flows.predict import PredictSummary, predict_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig
from gameline.tasks.registry.aliases import CHAMPION, Outcome
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.tracking import TrainingRecord


class PipelineSummary(BaseModel):
    """What every stage of one pipeline run did."""

    ingest: IngestSummary
    training: TrainingRecord
    gate: Outcome
    predictions: PredictSummary | None
    note: str | None = None


@flow(name="pipeline")
def pipeline_flow(config: GamelineConfig, file: Path | None = None) -> PipelineSummary:
    """Ingest and validate the source, rebuild features and publish them to Feast, train and
    register a challenger, gate it against the champion, and score the upcoming games."""
    ingested = ingest_flow(config, file)
    training = train_flow(config)
    outcome = gate_flow(config, training.model_version)
    if Registry.from_config(config).alias_version(CHAMPION) is None:  # the first one failed
        return PipelineSummary(
            ingest=ingested,
            training=training,
            gate=outcome,
            predictions=None,
            note="no champion yet, so no predictions: the first challenger did not pass",
        )
    predictions = predict_flow(config)
    return PipelineSummary(
        ingest=ingested, training=training, gate=outcome, predictions=predictions
    )
