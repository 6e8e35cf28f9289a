"""What `gameline status` reports: the models behind the aliases, the last gate decision, how
fresh the features are, the latest predictions and the A/B outcomes, open alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.facts import Facts, FactTable
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.monitoring.triggers import RetrainDecision, read_retrains
from gameline.tasks.records import RecordStore, records_for
from gameline.tasks.registry.aliases import latest_decision
from gameline.tasks.registry.gate import Decision
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.snapshot import ModelStatus, read_snapshot, record_snapshot
from gameline.tasks.serving.predictions import (
    SHOWN_COLUMNS,
    arm_outcomes,
    json_records,
    latest_predictions,
    predictions_facts,
    read_predictions,
)
from gameline.tasks.storage import reading


class Freshness(BaseModel):
    """How current the stores are."""

    games: int
    finished: int
    scheduled: int
    last_result_start: datetime | None
    feature_rows_until: datetime | None
    online_watermark: datetime | None


STATUS_COLUMNS = (
    "alias", "version", "family", "trained from", "trained until", "games", "log loss", "ECE",
    "Elo log loss",
)  # fmt: skip


class StatusReport(BaseModel):
    """Everything `gameline status` prints."""

    model: str
    models: list[ModelStatus]
    registry_recorded_at: datetime | None = None  # None: asked of MLflow by this command
    last_decision: Decision | None
    freshness: Freshness
    predictions: list[dict[str, Any]]
    arms: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    last_retrain_decision: RetrainDecision | None = None

    def facts(self) -> Facts:
        """The registered models and their scores, the last gate and daily decisions, the
        freshness of every store, the latest predictions and A/B arms, open alerts."""
        asked = (
            f"as recorded {self.registry_recorded_at:%Y-%m-%d %H:%M} UTC by the last change; "
            "--live asks MLflow"
            if self.registry_recorded_at
            else "asked of MLflow now"
        )
        blocks: list[FactTable | str] = [
            FactTable(
                f"{self.model}: registered models (scores out of fold; {asked})",
                STATUS_COLUMNS,
                [m.row() for m in self.models],
            )
            if self.models
            else "no registered model yet: run `gameline train`"
        ]
        if d := self.last_decision:
            verdict = "promoted" if d.promote else "rejected"
            interval = (
                f", interval [{d.diff_low:+.5f}, {d.diff_high:+.5f}]"
                if d.promote and d.diff_low is not None
                else ""
            )
            blocks.append(
                f"last gate ({d.decided_at:%Y-%m-%d %H:%M} UTC): v{d.challenger_version} "
                f"{verdict}: {d.reason}{interval}"
            )
        f = self.freshness
        blocks.append(
            f"games {f.games} ({f.finished} final, {f.scheduled} scheduled); last result "
            f"{f.last_result_start}; feature rows until {f.feature_rows_until}; online store "
            f"materialized to {f.online_watermark}"
        )
        if self.predictions:
            blocks.append(predictions_facts(self.predictions, "Latest predictions"))
        blocks += [
            f"arm {a['arm']}: {a['games']} finished games, served log loss "
            f"{a['served_log_loss']:.4f}"
            for a in self.arms
        ]
        if r := self.last_retrain_decision:
            verdict = f"retrain on {r.trigger}" if r.retrain else "no retrain"
            blocks.append(
                f"last daily run ({r.decided_at:%Y-%m-%d %H:%M} UTC): {verdict}: {r.detail}"
            )
        blocks.append(f"open alerts: {len(self.alerts)}")
        blocks += [f"  {json.dumps(alert)}" for alert in self.alerts]
        return Facts(line=f"{self.model}: {len(self.models)} aliased versions", blocks=blocks)


def freshness(config: GamelineConfig, games: pd.DataFrame) -> Freshness:
    paths = state_paths(config)
    finals = games[games["status"] == "final"]
    rows_until = None
    if paths.team_features.exists():
        with reading(paths.team_features):
            stamps = pd.read_parquet(paths.team_features, columns=["event_timestamp"])
        rows_until = stamps["event_timestamp"].max().to_pydatetime() if len(stamps) else None
    watermark = None
    if paths.online_watermark.exists():  # recorded by each materialization (no Feast import)
        with reading(paths.online_watermark):
            recorded = json.loads(paths.online_watermark.read_text())["end"]
            watermark = datetime.fromisoformat(recorded)
    return Freshness(
        games=len(games),
        finished=len(finals),
        scheduled=int((games["status"] == "scheduled").sum()),
        last_result_start=finals["start_time"].max().to_pydatetime() if len(finals) else None,
        feature_rows_until=rows_until,
        online_watermark=watermark,
    )


def open_alerts(records: RecordStore) -> list[dict[str, Any]]:
    """Alerts in the alert log not marked resolved (monitoring writes them)."""
    return [a.model_dump(mode="json") for a in read_alerts(records) if not a.resolved]


def status_report(
    config: GamelineConfig, predictions_shown: int = 10, live: bool = False
) -> StatusReport:
    """The whole status of one config's pipeline. The models come from the registry snapshot
    the last train, gate or rollback recorded, unless `live` (or there is none): then from
    MLflow, and the snapshot is recorded again."""
    paths = state_paths(config)
    records = records_for(config)
    registry = Registry.from_config(config)
    snapshot = None if live else read_snapshot(records)
    recorded_at = snapshot.recorded_at if snapshot else None
    if snapshot is None:
        snapshot = record_snapshot(registry, records, datetime.now(UTC))
    games = read_store(paths.raw_games) if paths.raw_games.exists() else pd.DataFrame()
    predictions = read_predictions(records)
    latest = latest_predictions(predictions)
    # A table written before a column was added (missing_features) is read without it.
    columns = [c for c in [*SHOWN_COLUMNS, "predicted_at"] if c in latest.columns]
    return StatusReport(
        model=registry.model_name,
        models=snapshot.models,
        registry_recorded_at=recorded_at,
        last_decision=latest_decision(records),
        freshness=freshness(config, games)
        if len(games)
        else Freshness(
            games=0,
            finished=0,
            scheduled=0,
            last_result_start=None,
            feature_rows_until=None,
            online_watermark=None,
        ),
        predictions=json_records(latest[columns].tail(predictions_shown)) if len(latest) else [],
        arms=json_records(arm_outcomes(predictions, games)) if len(games) else [],
        alerts=open_alerts(records),
        last_retrain_decision=next(iter(read_retrains(records)[-1:]), None),
    )
