"""One line per stage: what the CLI's tables say, as run log lines (the Prefect UI's logs tab
reads like the terminal) and as the daily run's summary artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gameline.flows.ingest import IngestSummary
    from gameline.flows.monitor import MonitorSummary
    from gameline.flows.predict import PredictSummary
    from gameline.tasks.monitoring.triggers import RetrainDecision
    from gameline.tasks.registry.aliases import Outcome
    from gameline.tasks.registry.tracking import TrainingRecord


def log_stage(line: str) -> None:
    """Log a stage's line on the current run (printed on the console too)."""
    from prefect import get_run_logger

    get_run_logger().info(line)


def ingest_line(s: IngestSummary) -> str:
    m, st = s.manifest, s.store
    seen = " (seen before: nothing new)" if s.skipped else ""
    seen += f" ({s.note})" if s.note else ""
    return (
        f"ingest {s.source}{seen}: read {m.read}, new {m.new}, updated {m.updated}, "
        f"quarantined {m.quarantined}; store {st.games} games ({st.final} final, "
        f"{st.scheduled} scheduled)"
    )


def monitor_line(s: MonitorSummary) -> str:
    r = s.result
    if r.status != "ok":
        return f"monitor: {r.status}"
    parts = []
    for drift in (r.data_drift, r.prediction_drift):
        if drift is not None and drift.drifted_share is not None:
            parts.append(f"{drift.kind} drift {drift.drifted_share:.2f} of columns")
        elif drift is not None:
            parts.append(f"{drift.kind} drift: {drift.detail}")
    perf = r.performance
    if perf is not None and perf.status == "ok":
        parts.append(
            f"served log loss {perf.served_log_loss:.4f} (Elo {perf.elo_log_loss:.4f}) on "
            f"{perf.games} games"
        )
    opened = ", ".join(a.kind for a in s.opened) or "none"
    return (
        f"monitor champion v{r.champion_version}: {'; '.join(parts) or 'nothing measured'}; "
        f"new alerts: {opened}; resolved {len(s.resolved)}, ongoing {len(s.continuing)}"
    )


def retrain_line(d: RetrainDecision) -> str:
    return f"{f'retrain ({d.trigger})' if d.retrain else 'no retrain'}: {d.detail}"


def clv_text(metrics: dict[str, float]) -> str:
    """The closing-line value of the model's bets at the opening line ('' without both lines)."""
    model = next((k[: -len("_clv_mean")] for k in metrics if k.endswith("_clv_mean")), None)
    if model is None or not metrics[f"{model}_clv_bets"]:
        return ""
    return (
        f"{model} bets at the opening line: {metrics[f'{model}_clv_bets']:.0f} of "
        f"{metrics['both_lines_games']:.0f} games with both lines, closing-line value "
        f"{metrics[f'{model}_clv_mean']:+.2%} per bet, beat the close on "
        f"{metrics[f'{model}_clv_beat_share']:.0%}, return {metrics[f'{model}_clv_open_roi']:+.1%}"
    )


def training_line(t: TrainingRecord) -> str:
    families = sorted({k.rsplit("_", 2)[0] for k in t.metrics if k.endswith("_log_loss")})
    scores = ", ".join(f"{f} {t.metrics[f'{f}_log_loss']:.4f}" for f in families)
    clv = clv_text(t.metrics)
    return (
        f"train: {t.folds} folds, out-of-fold log loss {scores}{'; ' + clv if clv else ''}; "
        "registered "
        f"{t.model_name} v{t.model_version} as '{t.alias}' (run {t.run_id})"
    )


def gate_line(o: Outcome) -> str:
    d = o.decision
    return f"gate v{d.challenger_version}: {o.applied}: {d.reason}; champion now v{o.champion}"


def predict_line(p: PredictSummary) -> str:
    if p.note:
        return f"predict: nothing scored: {p.note}"
    shadow = f", challenger v{p.challenger_version} in shadow" if p.challenger_version else ""
    degraded = f"; {p.degraded}" if p.degraded else ""
    return (
        f"predict: {p.games} upcoming games scored by champion v{p.champion_version}{shadow}"
        f"{degraded}"
    )
