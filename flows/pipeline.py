"""The whole pipeline. Today: ingest -> validate -> features. Later stages (Feast, training,
promotion, predictions, monitoring) join here as they land."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.ingest import IngestSummary, ingest_flow
from tasks.config import GamelineConfig


@flow(name="pipeline")
def pipeline_flow(config: GamelineConfig, file: Path | None = None) -> IngestSummary:
    """Run every stage of Gameline that exists, in order."""
    return ingest_flow(config, file)
