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
    heal_task,
    log_stage,
    resolve,
    run_name,
)
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import league_now
from gameline.tasks.facts import Facts, FactTable, facts_markdown
from gameline.tasks.model.dataset import build_training_set
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
from gameline.tasks.monitoring.drift import drift_figures
from gameline.tasks.monitoring.monitor import Champion, MonitorResult, load_champion, monitor
from gameline.tasks.monitoring.notify import Delivery, Notifier
from gameline.tasks.monitoring.sources import source_findings
from gameline.tasks.records import MONITOR_RESULT, records_for
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

    def facts(self) -> Facts:
        """Drift, live performance and calibration against their thresholds; the alerts opened,
        resolved and ongoing; the log line."""
        r = self.result
        rows, said = measured_rows(r)
        opened = ", ".join(a.kind for a in self.opened) or "none"
        if r.status != "ok":
            line = f"monitor: {r.status}"
            blocks: list[FactTable | str] = [line]
        else:
            line = (
                f"monitor champion v{r.champion_version}: {'; '.join(said) or 'nothing measured'}"
                f"; new alerts: {opened}; resolved {len(self.resolved)}, ongoing "
                f"{len(self.continuing)}"
            )
            title = f"Monitor: {r.model} champion v{r.champion_version or '-'}"
            blocks = [FactTable(title, ("measure", "value", "threshold", "detail"), rows)]
        blocks += [f"alert {a.kind}: {a.summary}" for a in self.opened]
        blocks += [f"resolved {a.kind} ({a.alert_id})" for a in self.resolved]
        if self.continuing:
            blocks.append(f"ongoing alerts: {', '.join(a.kind for a in self.continuing)}")
        return Facts(line=line, blocks=blocks)


def measured_rows(r: MonitorResult) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(rows of measure, value, threshold, detail; the same facts in a few words each)."""
    rows, said = [], []
    for drift in (r.data_drift, r.prediction_drift):
        if drift is None:
            continue
        value, threshold = drift_figures(drift)
        rows.append((f"{drift.kind} drift", value, threshold, str(drift.report or drift.detail)))
        said.append(
            f"{drift.kind} drift {drift.drifted_share:.2f} of columns"
            if drift.drifted_share is not None
            else f"{drift.kind} drift: {drift.detail}"
        )
    perf = r.performance
    if perf is not None and perf.status != "ok":
        rows.append(("live performance", "-", "-", perf.detail))
    if perf is None or perf.status != "ok":
        return rows, said
    on = f"on the same {perf.games} games"
    rows.append(
        (
            "served log loss",
            f"{perf.served_log_loss:.4f}",
            f"promised {perf.promised_log_loss or float('nan'):.4f}",
            f"Elo {perf.elo_log_loss:.4f} {on}; ECE {perf.ece:.3f}",
        )
    )
    cusums = [t for t in (perf.over_prediction, perf.under_prediction) if t]
    if cusums:
        worst = max(cusums, key=lambda t: t.statistic)
        rows.append(
            (
                "calibration CUSUM",
                f"{worst.statistic:.2f}",
                f"> {worst.h:g}",
                f"mean residual {perf.mean_residual:+.3f} on {perf.games} games",
            )
        )
    for side, line in perf.lines.items():
        worst = max((line.over_prediction, line.under_prediction), key=lambda t: t.statistic)
        rows.append(
            (
                f"P({side}) at the lines",
                f"{line.log_loss:.4f}",
                f"CUSUM {worst.statistic:.2f} > {worst.h:g}",
                f"a coin 0.6931; ECE {line.ece:.3f}, mean residual {line.mean_residual:+.3f} "
                f"on {line.games} games without a push",
            )
        )
    said.append(
        f"served log loss {perf.served_log_loss:.4f} (Elo {perf.elo_log_loss:.4f}) on "
        f"{perf.games} games"
    )
    return rows, said


champion_task = task(load_champion, name="load-champion", **IO_RETRIES, **ADAPTER_TASK)


@task(name="measure", **ADAPTER_TASK)
def measure(
    config: GamelineConfig, champion: Champion | None, model: str, now: datetime
) -> MonitorResult:
    """Drift and live performance of the champion (a read of the stores; writes reports)."""
    paths = state_paths(config)
    path, _ = build_training_set(config)
    predictions = read_predictions(records_for(config))
    result = monitor(
        pd.read_parquet(path),
        read_store(paths.raw_games),
        predictions,
        champion,
        model,
        config.monitor,
        config.features.elo,
        now,
        paths.monitor_reports,
    )
    stale, checked = source_findings(config, predictions, now)
    return result.model_copy(
        update={
            "findings": [*result.findings, *stale],
            "checked": [*result.checked, *(["source_stale"] if checked else [])],
        }
    )


@task(name="alerts", **ADAPTER_TASK)
def keep_alerts(
    config: GamelineConfig, result: MonitorResult, notifier: Notifier, now: datetime
) -> tuple[AlertChanges, list[Delivery]]:
    """Open, update or resolve the alert episodes; notify new and resolved ones."""
    records = records_for(config)
    changes = update_alerts(
        read_alerts(records),
        result.findings,
        set(result.checked),
        result.model,
        result.champion_version,
        now,
    )
    write_alerts(records, changes.alerts)
    deliveries = [notifier.send(*alert_message(a)) for a in [*changes.opened, *changes.resolved]]
    return changes, deliveries


def portable(path: Path | None) -> str:
    """A config file as the retrain it triggers should open it: relative to the folder runs
    start in when it lies there (each worker resolves it in its own checkout), else absolute."""
    if path is None:
        return ""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
            "config": portable(config.file),
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
    config = resolve(config, "monitor")
    return monitor_stage(config, now or league_now(config))


def monitor_stage(config: GamelineConfig, now: datetime, heal: bool = True) -> MonitorSummary:
    """The monitor flow's tasks, run inside whichever flow calls this (`heal`: check the
    derived stores first; the daily run's ingest has)."""
    registry = Registry.from_config(config)
    champion = champion_task(registry)
    if heal:
        heal_task(config)
    result = measure(config, champion, registry.model_name, now)
    changes, deliveries = keep_alerts(config, result, Notifier(alert_url(config.alerts)), now)
    reports = state_paths(config).monitor_reports
    path = reports / f"{now:%Y%m%dT%H%M%SZ}-result.json"
    write_json(result.model_dump(mode="json"), path)
    records_for(config).write_doc(MONITOR_RESULT, result.model_dump_json(indent=2) + "\n")
    for kind in ("data-drift.html", "prediction-drift.html", "result.json"):  # a few MB a day
        keep_newest(reports, f"*-{kind}", KEEP_REPORTS)
    summary = MonitorSummary(
        result=result,
        opened=changes.opened,
        continuing=changes.continuing,
        resolved=changes.resolved,
        deliveries=deliveries,
        result_path=path,
        event=emit_drift_event(config, result, changes.opened),
    )
    facts = summary.facts()
    create_markdown_artifact(
        key=artifact_key(f"monitor-{config.name}"),
        markdown=facts_markdown(f"Monitor {result.model} v{result.champion_version}", facts),
        description=f"{len(result.findings)} findings",
        _sync=True,  # also from the async daily flow's body
    )
    log_stage(facts.line)
    return summary
