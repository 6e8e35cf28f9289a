"""How the served model is doing, in one record: the last monitor run's live performance (log
loss against Elo and the backtest's promise, calibration, the sequential tests), the A/B arms,
a reliability curve of the served games, open alerts, the last daily decision and retrain.
Read from the state folder only (what `/v1/performance` and the status page show)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.model.metrics import reliability_curve
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.monitoring.monitor import MonitorResult
from gameline.tasks.monitoring.performance import Performance
from gameline.tasks.monitoring.triggers import RetrainDecision, last_retrain, read_retrains
from gameline.tasks.records import MONITOR_RESULT, RecordStore, parse_doc, records_for
from gameline.tasks.serving.predictions import (
    arm_outcomes,
    json_records,
    read_predictions,
    served_results,
)


class Overview(BaseModel):
    """The served model's record as of the last monitor and daily runs."""

    monitored_at: datetime | None
    monitor_status: str | None  # the last monitor run's verdict (e.g. "no champion")
    champion_version: str | None
    performance: Performance | None
    arms: list[dict[str, Any]]
    calibration: list[dict[str, Any]]  # served finished games: bin_low, games, p_mean, y_rate
    served_finished_games: int
    open_alerts: list[dict[str, Any]]
    last_daily_decision: RetrainDecision | None
    last_retrain: RetrainDecision | None


def latest_monitor_result(records: RecordStore, folder: Path) -> MonitorResult | None:
    """The last monitor run's result, as it recorded it (shared by every worker with a shared
    record store); in a state folder from before that record, its newest result file."""
    recorded = parse_doc(records, MONITOR_RESULT, MonitorResult.model_validate_json)
    if recorded is not None:
        return recorded
    found = sorted(folder.glob("*-result.json")) if folder.exists() else []
    return MonitorResult.model_validate_json(found[-1].read_text()) if found else None


def overview(
    config: GamelineConfig, games: pd.DataFrame, predictions: pd.DataFrame | None = None
) -> Overview:
    """The record from the state folder (`predictions`: the table, when already read)."""
    paths = state_paths(config)
    records = records_for(config)
    result = latest_monitor_result(records, paths.monitor_reports)
    if predictions is None:
        predictions = read_predictions(records)
    served = served_results(predictions, games)
    finished = served[served["y"].notna()] if len(served) else served
    curve = (
        reliability_curve(finished["y"].to_numpy(), finished["p_home"].to_numpy(dtype=float))
        if len(finished)
        else pd.DataFrame()
    )
    decisions = read_retrains(records)
    arms = arm_outcomes(predictions, games) if len(games) else pd.DataFrame()
    return Overview(
        monitored_at=result.checked_at if result else None,
        monitor_status=result.status if result else None,
        champion_version=result.champion_version if result else None,
        performance=result.performance if result else None,
        arms=json_records(arms) if len(arms) else [],
        calibration=json_records(curve) if len(curve) else [],
        served_finished_games=len(finished),
        open_alerts=[a.model_dump(mode="json") for a in read_alerts(records) if not a.resolved],
        last_daily_decision=decisions[-1] if decisions else None,
        last_retrain=last_retrain(decisions),
    )


def days_games(served: pd.DataFrame, days: list[Any], timezone: str) -> pd.DataFrame:
    """The served games whose local start date is one of `days`, in start order."""
    if served.empty:
        return served
    local = served["start_time"].dt.tz_convert(timezone).dt.date
    chosen = served[np.isin(local.to_numpy(), np.array(days, dtype=object))]
    return chosen.sort_values("start_time", kind="stable")
