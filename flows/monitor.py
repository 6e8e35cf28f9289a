"""Monitor flow: the champion's drift and live performance, alerts by episode (notification and
the local alert log), a report and an artifact, and the `gameline.drift.detected` event."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

from gameline.flows.common import (
    ADAPTER_TASK,
    IO_RETRIES,
    ConfigRef,
    alert_url,
    artifact_key,
    resolve,
    run_name,
)
from gameline.flows.summaries import log_stage, monitor_line
from gameline.flows.train import build_training_set
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import league_now
from gameline.tasks.monitoring.alerts import (
    DEGRADATION_KINDS,
    DRIFT_KINDS,
    Alert,
    AlertChanges,
    alert_message,
    read_alerts,
    update_alerts,
    write_alerts,
)
from gameline.tasks.monitoring.drift import DriftResult
from gameline.tasks.monitoring.monitor import Champion, MonitorResult, monitor
from gameline.tasks.monitoring.notify import Delivery, Notifier
from gameline.tasks.registry.aliases import CHAMPION
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predictions import read_predictions
from gameline.tasks.storage import keep_newest, write_json

DRIFT_EVENT = "gameline.drift.detected"
# Monitor reports kept of each kind (the newest; about 4 MB per drift report).
KEEP_REPORTS = 60


class MonitorSummary(BaseModel):
    """A monitor run: what it measured and found, and what it did to the alerts."""

    result: MonitorResult
    opened: list[Alert]
    continuing: list[Alert]
    resolved: list[Alert]
    deliveries: list[Delivery]
    result_path: Path
    event: str | None = None


@task(name="load-champion", **IO_RETRIES, **ADAPTER_TASK)
def load_champion(registry: Registry) -> Champion | None:
    """The champion's version, features, training end, promised log loss and out-of-fold
    predictions (None without a champion)."""
    version = registry.alias_version(CHAMPION)
    if version is None:
        return None
    tags = registry.version_tags(version)
    family, run_id = tags.get("family", "blend"), tags["run_id"]
    oof = pd.read_parquet(registry.download(run_id, "oof_predictions.parquet"))
    return Champion(
        version=version,
        features=tags["features"].split(","),
        trained_until=pd.Timestamp(tags["trained_until"]).to_pydatetime(),
        promised_log_loss=registry.run_metrics(run_id).get(f"{family}_log_loss"),
        oof=pd.DataFrame({"game_id": oof["game_id"].astype(str), "p": oof[f"p_{family}"]}),
    )


@task(name="measure", **ADAPTER_TASK)
def measure(
    config: GamelineConfig, champion: Champion | None, model: str, now: datetime
) -> MonitorResult:
    """Drift and live performance of the champion (a read of the stores; writes reports)."""
    paths = state_paths(config)
    path, _ = build_training_set.fn(config)
    return monitor(
        pd.read_parquet(path),
        read_store(paths.raw_games),
        read_predictions(paths.predictions),
        champion,
        model,
        config.monitor,
        config.features.elo,
        now,
        paths.monitor_reports,
    )


@task(name="alerts", **ADAPTER_TASK)
def keep_alerts(
    config: GamelineConfig, result: MonitorResult, notifier: Notifier, now: datetime
) -> tuple[AlertChanges, list[Delivery]]:
    """Open, update or resolve the alert episodes; notify new and resolved ones."""
    path = state_paths(config).alert_log
    changes = update_alerts(
        read_alerts(path),
        result.findings,
        set(result.checked),
        result.model,
        result.champion_version,
        now,
    )
    write_alerts(path, changes.alerts)
    deliveries = [notifier.send(*alert_message(a)) for a in [*changes.opened, *changes.resolved]]
    return changes, deliveries


def drift_figures(drift: DriftResult) -> tuple[str, str]:
    """(value, threshold) of a drift result: the drifted share of the inputs, or, for the one
    prediction column, Evidently's score and its test's threshold."""
    if drift.kind == "prediction" and drift.columns:
        column = drift.columns[0]
        side = "<" if "p_value" in column.method else ">="
        return f"{column.score:.3f}", f"{side} {column.threshold:g} ({column.method})"
    if drift.drifted_share is None:
        return "-", "-"
    return f"{drift.drifted_share:.2f} drifted", f">= {drift.share_threshold:g}"


def monitor_markdown(result: MonitorResult, changes: AlertChanges) -> str:
    """The key figures of a monitor run as a Prefect markdown artifact, with the reports."""
    rows = []
    for drift in (result.data_drift, result.prediction_drift):
        if drift is None:
            continue
        value, threshold = drift_figures(drift)
        report = f"`{drift.report}`" if drift.report else drift.detail
        rows.append(
            f"| {drift.kind} drift | {value} | {threshold} | "
            f"{drift.current_rows} vs {drift.reference_rows} rows | {report} |"
        )
    perf = result.performance
    if perf is not None and perf.status == "ok":
        worst = max(
            (t for t in (perf.over_prediction, perf.under_prediction) if t),
            key=lambda t: t.statistic,
        )
        rows.append(
            f"| live log loss | {perf.served_log_loss:.4f} | promised "
            f"{perf.promised_log_loss or float('nan'):.4f}, Elo {perf.elo_log_loss:.4f} | "
            f"{perf.games} games | ECE {perf.ece:.3f} |"
        )
        rows.append(
            f"| calibration CUSUM | {worst.statistic:.2f} | > {worst.h:g} | {perf.games} games "
            f"| mean residual {perf.mean_residual:+.3f} |"
        )
    elif perf is not None:
        rows.append(f"| live performance | - | - | - | {perf.detail} |")
    alerts = "\n".join(f"- **{a.kind}**: {a.summary}" for a in changes.opened) or "- none new"
    return (
        f"# Monitor {result.model} v{result.champion_version} ({result.status})\n\n"
        "| measure | value | threshold | data | detail |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nNew alerts:\n{alerts}\n\nResolved: {len(changes.resolved)}; ongoing: "
        f"{len(changes.continuing)}.\n"
    )


def emit_drift_event(
    config: GamelineConfig, result: MonitorResult, opened: list[Alert]
) -> str | None:
    """With new drift or degradation, a `gameline.drift.detected` event carrying the reason and
    the config's file (the `retrain` deployment's trigger retrains that config)."""
    kinds = [a.kind for a in opened if a.kind in (*DRIFT_KINDS, *DEGRADATION_KINDS)]
    if not kinds:
        return None
    from prefect.events import emit_event

    emit_event(
        event=DRIFT_EVENT,
        # The config is the resource a deployment's trigger matches (`gameline.config.default`).
        resource={
            "prefect.resource.id": f"gameline.config.{config.name}",
            "prefect.resource.name": result.model,
        },
        payload={
            "config": str(config.file or ""),
            "model": result.model,
            "champion_version": result.champion_version,
            "kinds": kinds,
            "reason": "; ".join(a.summary for a in opened),
        },
    )
    return DRIFT_EVENT


@flow(name="monitor", flow_run_name=run_name("monitor"))
def monitor_flow(config: ConfigRef, now: datetime | None = None) -> MonitorSummary:
    """Watch the champion: drift of its inputs and predictions, live performance of what it
    served; alert a person once per episode; emit `gameline.drift.detected`."""
    config = resolve(config)
    return monitor_stage(config, now or league_now(config))


def monitor_stage(config: GamelineConfig, now: datetime) -> MonitorSummary:
    """The monitor flow's tasks, run inside whichever flow calls this."""
    registry = Registry.from_config(config)
    champion = load_champion(registry)
    result = measure(config, champion, registry.model_name, now)
    changes, deliveries = keep_alerts(config, result, Notifier(alert_url(config.alerts)), now)
    reports = state_paths(config).monitor_reports
    path = reports / f"{now:%Y%m%dT%H%M%SZ}-result.json"
    write_json(result.model_dump(mode="json"), path)
    for kind in ("data-drift.html", "prediction-drift.html", "result.json"):  # a few MB a day
        keep_newest(reports, f"*-{kind}", KEEP_REPORTS)
    create_markdown_artifact(
        key=artifact_key(f"monitor-{config.name}"),
        markdown=monitor_markdown(result, changes),
        description=f"{len(result.findings)} findings",
    )
    summary = MonitorSummary(
        result=result,
        opened=changes.opened,
        continuing=changes.continuing,
        resolved=changes.resolved,
        deliveries=deliveries,
        result_path=path,
        event=emit_drift_event(config, result, changes.opened),
    )
    log_stage(monitor_line(summary))
    return summary
