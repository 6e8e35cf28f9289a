"""One monitor run: the champion's input drift, prediction drift and live performance, and the
findings (problems) they add up to. A plain function of frames; the monitor flow reads the
stores, keeps the alert log and sends the notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import EloConfig, MonitorConfig
from gameline.tasks.features.team import LEAGUE_FEATURES
from gameline.tasks.model.inputs import feature_frame_columns
from gameline.tasks.monitoring.alerts import AlertKind, Finding
from gameline.tasks.monitoring.drift import DriftResult, measure_drift, phase_reference
from gameline.tasks.monitoring.performance import (
    Performance,
    elo_probability,
    live_performance,
    served_line_results,
    served_outcomes,
)
from gameline.tasks.monitoring.sequential import CusumResult
from gameline.tasks.registry.aliases import CHAMPION
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predictions import latest_predictions


@dataclass(frozen=True)
class Champion:
    """What the monitor needs to know of the champion: its version and features, the end of
    its training data, the log loss its backtest promised, and its out-of-fold predictions."""

    version: str
    features: list[str]
    trained_until: datetime
    promised_log_loss: float | None
    oof: pd.DataFrame  # game_id, p


def load_champion(registry: Registry) -> Champion | None:
    """The champion's version, features, training end, promised log loss and out-of-fold
    predictions, read through the registry adapter (None without a champion)."""
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


class MonitorResult(BaseModel):
    """Everything one monitor run measured, and what it found."""

    checked_at: datetime
    model: str
    champion_version: str | None
    status: str
    data_drift: DriftResult | None = None
    prediction_drift: DriftResult | None = None
    performance: Performance | None = None
    findings: list[Finding] = []
    checked: list[str] = []


def current_rows(
    frame: pd.DataFrame, predictions: pd.DataFrame, now: datetime, days: int
) -> pd.DataFrame:
    """The training rows (features) of the games served whose start lies in the last `days`,
    with the served probability as `p`."""
    served = latest_predictions(predictions)
    if served.empty:
        return frame.iloc[:0].assign(p=pd.Series(dtype=float))
    start = pd.Timestamp(now) - pd.Timedelta(days=days)
    recent = served[(served["start_time"] >= start) & (served["start_time"] <= pd.Timestamp(now))]
    p = recent.set_index(recent["game_id"].astype(str))["p_home"]
    rows = frame[frame["game_id"].astype(str).isin(p.index)]
    return rows.assign(p=p.reindex(rows["game_id"].astype(str)).to_numpy())


def monitor(
    frame: pd.DataFrame,
    games: pd.DataFrame,
    predictions: pd.DataFrame,
    champion: Champion | None,
    model: str,
    cfg: MonitorConfig,
    elo: EloConfig,
    now: datetime,
    reports: Path | None,
) -> MonitorResult:
    """Drift of the champion's inputs and predictions in the current window against the same
    phase of its training seasons, and its live performance since it began serving; the drift
    reports go to `reports` (None: none written)."""
    if champion is None:
        return MonitorResult(
            checked_at=now, model=model, champion_version=None, status="no champion"
        )
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    current = current_rows(frame, predictions, now, cfg.window_days)
    trained = frame[frame["event_timestamp"] <= pd.Timestamp(champion.trained_until)]
    reference, phase = (
        phase_reference(trained, current, cfg.phase_band)
        if len(current)
        else (trained.iloc[:0], None)
    )
    # A league-wide value (one number a day) has no distribution within a two-week window to
    # test; its effect is the home edge, which the live-performance tests watch.
    columns = [
        c
        for c in feature_frame_columns(champion.features)
        if c.split("__", 1)[-1] not in LEAGUE_FEATURES
    ]
    data = measure_drift(
        "data", reference, current, columns, cfg.drift_share, cfg.min_games,
        reports / f"{stamp}-data-drift.html" if reports else None, cfg.drift_test,
    )  # fmt: skip
    # The out-of-fold predictions of the same phase, matched to the window's phases on their own
    # (they cover fewer seasons than the training rows).
    oof_ids = champion.oof["game_id"].astype(str)
    oof_rows = trained[trained["game_id"].astype(str).isin(oof_ids)]
    oof_reference = (
        phase_reference(oof_rows, current, cfg.phase_band)[0] if len(current) else oof_rows
    )
    oof = champion.oof[oof_ids.isin(oof_reference["game_id"].astype(str))]
    predicted = measure_drift(
        "prediction", oof, current, ["p"], 1.0, cfg.min_games,
        reports / f"{stamp}-prediction-drift.html" if reports else None, cfg.drift_test,
    )  # fmt: skip
    if len(current):
        window = {
            "window_start": current["event_timestamp"].min().to_pydatetime(),
            "window_end": current["event_timestamp"].max().to_pydatetime(),
            "phase": phase,
        }
        data, predicted = (d.model_copy(update=window) for d in (data, predicted))
    outcomes = served_line_results(
        served_outcomes(predictions, games, champion.version, now), games
    )
    rows = frame.set_index(frame["game_id"].astype(str)).reindex(outcomes["game_id"].astype(str))
    performance = live_performance(
        outcomes, elo_probability(rows, elo), champion.promised_log_loss, champion.version, cfg
    )
    checked = [
        kind
        for kind, ok in (
            ("data_drift", data.status == "ok"),
            ("prediction_drift", predicted.status == "ok"),
            ("miscalibration", performance.status == "ok"),
            ("excess_loss", performance.status == "ok" and performance.excess_loss is not None),
            *((f"{side}_miscalibration", True) for side in performance.lines),
        )
        if ok
    ]
    return MonitorResult(
        checked_at=now,
        model=model,
        champion_version=champion.version,
        status="ok",
        data_drift=data,
        prediction_drift=predicted,
        performance=performance,
        findings=findings(data, predicted, performance, cfg),
        checked=checked,
    )


def findings(
    data: DriftResult, predicted: DriftResult, performance: Performance, cfg: MonitorConfig
) -> list[Finding]:
    """The problems in one run's measures, each with its value, threshold, window and since."""
    out: list[Finding] = []
    window = f"served games of the last {cfg.window_days} days"
    if data.drifted and data.drifted_share is not None:
        names = [c.column for c in data.columns if c.drifted]
        out.append(
            Finding(
                kind="data_drift",
                summary=f"{len(names)} of {len(data.columns)} model inputs drifted "
                f"({', '.join(names[:6])}{'...' if len(names) > 6 else ''}) against the same "
                "season phase of the champion's training seasons",
                value=data.drifted_share,
                threshold=data.share_threshold,
                window=window,
                since=data.window_start,
                report=str(data.report) if data.report else None,
            )
        )
    if predicted.drifted and predicted.columns:
        column = predicted.columns[0]
        out.append(
            Finding(
                kind="prediction_drift",
                summary=f"served probabilities drifted from the champion's out-of-fold ones "
                f"({column.method})",
                value=column.score,
                threshold=column.threshold,
                window=window,
                since=predicted.window_start,
                report=str(predicted.report) if predicted.report else None,
            )
        )
    out.extend(performance_findings(performance))
    return out


def performance_findings(performance: Performance) -> list[Finding]:
    """A live-performance alarm: the served probabilities too high or too low for the results
    (calibration CUSUM), or the log loss above the backtest's promise (loss CUSUM)."""
    if performance.status != "ok":
        return []
    window = f"{performance.games} finished games served since {performance.first_game:%Y-%m-%d}"
    out = []
    for test, direction in (
        (performance.over_prediction, "higher"),
        (performance.under_prediction, "lower"),
    ):
        if test and test.alarm:
            summary = (
                f"served home-win probabilities are {direction} than the results (mean result "
                f"minus probability {performance.mean_residual:+.3f}, ECE {performance.ece:.3f}; "
                f"log loss {performance.served_log_loss:.4f} vs Elo "
                f"{performance.elo_log_loss:.4f} on the same games)"
            )
            out.append(cusum_finding("miscalibration", summary, test, window))
            break
    for side, line in performance.lines.items():
        for test, direction in ((line.over_prediction, "higher"), (line.under_prediction, "lower")):
            if test.alarm:
                what = "the home side covers" if side == "cover" else "games go over"
                summary = (
                    f"served P({side}) is {direction} than how often {what} at the posted "
                    f"lines (mean result minus probability {line.mean_residual:+.3f}, ECE "
                    f"{line.ece:.3f}, log loss {line.log_loss:.4f} against a coin's 0.6931 on "
                    f"{line.games} games without a push)"
                )
                kind: AlertKind = (
                    "cover_miscalibration" if side == "cover" else ("over_miscalibration")
                )
                out.append(cusum_finding(kind, summary, test, window))
                break
    loss = performance.excess_loss
    if loss and loss.alarm:
        # What the sequential test found: a run of games whose losses summed above the promise
        # (the period's mean may still be below it, so the mean is given as context only).
        since = f" since {loss.since:%Y-%m-%d}" if loss.since else ""
        summary = (
            f"a run of games{since} lost more than the {performance.promised_log_loss:.4f} "
            f"log loss the backtest promised (its CUSUM reached {loss.peak:.2f} > {loss.h:g}); "
            f"over all {performance.games} games served the log loss is "
            f"{performance.served_log_loss:.4f} (Elo {performance.elo_log_loss:.4f})"
        )
        out.append(cusum_finding("excess_loss", summary, loss, window))
    return out


def cusum_finding(kind: AlertKind, summary: str, test: CusumResult, window: str) -> Finding:
    """A CUSUM's alarm as a finding: its statistic against its threshold, since its run-up."""
    return Finding(
        kind=kind,
        summary=summary,
        value=test.statistic,
        threshold=test.h,
        window=window,
        since=test.since,
        detected_at=test.alarm_at,
    )
