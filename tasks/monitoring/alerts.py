"""Alerts by episode: the first monitor run that finds a problem opens an alert and notifies; the
runs after it that still find it update the alert without notifying again; the first run that
checks and no longer finds it marks it resolved (and says so). A check that had too little data
to say leaves its episode as it was.

The alert log (`records.ALERTS`) holds one JSON line per alert, rewritten as a whole (a file
renamed into place, or one transaction in the shared store), so `gameline status` shows the open
ones and a retrain on another worker decides from them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from gameline.tasks.records import ALERTS, RecordStore, parse_lines

AlertKind = Literal[
    "data_drift",
    "prediction_drift",
    "miscalibration",
    "excess_loss",
    "source_stale",
    "cover_miscalibration",
    "over_miscalibration",
]
# Which retrain trigger each kind of alert is.
DRIFT_KINDS: tuple[AlertKind, ...] = ("data_drift", "prediction_drift")
DEGRADATION_KINDS: tuple[AlertKind, ...] = (
    "miscalibration",
    "excess_loss",
    "cover_miscalibration",
    "over_miscalibration",
)
# A feature source that stopped arriving is a data problem, not a retrain trigger.


class Finding(BaseModel):
    """A problem one monitor run found: what, by how much, against which threshold and window,
    since when, and where the report is."""

    kind: AlertKind
    summary: str
    value: float
    threshold: float
    window: str
    since: datetime | None = None
    detected_at: datetime | None = None
    report: str | None = None


class Alert(Finding):
    """An episode of one kind of problem, as kept in the alert log."""

    alert_id: str
    model: str
    model_version: str | None
    opened_at: datetime
    updated_at: datetime
    resolved: bool = False
    resolved_at: datetime | None = None


class AlertChanges(BaseModel):
    """What one monitor run did to the alert log."""

    alerts: list[Alert]
    opened: list[Alert]
    continuing: list[Alert]
    resolved: list[Alert]


def read_alerts(records: RecordStore) -> list[Alert]:
    return parse_lines(records, ALERTS, Alert.model_validate_json)


def write_alerts(records: RecordStore, alerts: list[Alert]) -> None:
    records.replace_lines(ALERTS, [a.model_dump_json() for a in alerts])


def update_alerts(
    alerts: list[Alert],
    findings: list[Finding],
    checked: set[str],
    model: str,
    version: str | None,
    now: datetime,
) -> AlertChanges:
    """Open an alert for a new problem, update an ongoing one, resolve one a check no longer
    finds (only kinds in `checked`: a check without enough data resolves nothing)."""
    current = {a.kind: a for a in alerts if not a.resolved}
    found = {f.kind: f for f in findings}
    opened, continuing, resolved, kept = [], [], [], []
    for alert in alerts:
        if alert.resolved:
            kept.append(alert)
        elif alert.kind in found:
            update = found[alert.kind].model_dump(exclude={"since", "detected_at"})
            alert = alert.model_copy(update={**update, "updated_at": now})
            continuing.append(alert)
            kept.append(alert)
        elif alert.kind in checked:
            alert = alert.model_copy(update={"resolved": True, "resolved_at": now})
            resolved.append(alert)
            kept.append(alert)
        else:
            kept.append(alert)
    for kind, finding in found.items():
        if kind in current:
            continue
        key = f"{model}|{kind}|{now.isoformat()}"
        alert = Alert(
            **finding.model_dump(),
            alert_id=hashlib.sha256(key.encode()).hexdigest()[:12],
            model=model,
            model_version=version,
            opened_at=now,
            updated_at=now,
        )
        opened.append(alert)
        kept.append(alert)
    return AlertChanges(alerts=kept, opened=opened, continuing=continuing, resolved=resolved)


def alert_message(alert: Alert) -> tuple[str, str]:
    """(title, body) of the notification for an alert: what, how much, against what, since
    when, where the report is; or that it is resolved."""
    name = f"{alert.model} v{alert.model_version}" if alert.model_version else alert.model
    if alert.resolved:
        return (
            f"Gameline: resolved {alert.kind} on {name}",
            f"{alert.kind} alert {alert.alert_id} (opened {alert.opened_at:%Y-%m-%d %H:%M} UTC) "
            f"no longer holds as of {alert.resolved_at:%Y-%m-%d %H:%M} UTC.",
        )
    since = f" since {alert.since:%Y-%m-%d %H:%M} UTC" if alert.since else ""
    lines = [
        f"{alert.summary}{since}.",
        f"value {alert.value:.4f} against threshold {alert.threshold:.4f}; window {alert.window}.",
        f"alert {alert.alert_id}, opened {alert.opened_at:%Y-%m-%d %H:%M} UTC.",
    ]
    if alert.report:
        lines.append(f"report: {alert.report}")
    return f"Gameline: {alert.kind} on {name}", "\n".join(lines)
