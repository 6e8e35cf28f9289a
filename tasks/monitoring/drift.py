"""Drift of the champion's inputs and predictions, measured with Evidently, against a reference
that compares like with like.

The season calendar moves feature distributions with no drift at all: early in a season games
played and season-to-date form are small and noisy, late in it they are not. So the reference
is the champion's training rows from the *same phase of earlier seasons*: games whose season
progress lies within `phase_band` of the current window's, sampled so that their phases are
spread as the window's are (else a window in a season's first two weeks, against a reference
reaching into the third, shows games played "drifting"). Each column is tested with a test
whose false-alarm rate does not depend on how many rows each side has (`monitor.drift_test`).
Evidently's results are read by metric type and column, never by position, into typed values.
This is the one module that imports evidently.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.storage import atomic_write

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


class ColumnDrift(BaseModel):
    """One column's drift score, the method and threshold Evidently used, and the verdict."""

    column: str
    score: float
    method: str
    threshold: float
    drifted: bool


class DriftResult(BaseModel):
    """Drift of one kind (model inputs, or served probabilities) in the current window."""

    kind: Literal["data", "prediction"]
    status: Literal["ok", "not enough data"]
    detail: str = ""
    current_rows: int
    reference_rows: int
    window_start: datetime | None = None
    window_end: datetime | None = None
    phase: tuple[float, float] | None = None
    drifted_share: float | None = None
    share_threshold: float
    drifted: bool = False
    columns: list[ColumnDrift] = []
    report: Path | None = None


def season_phase(frame: pd.DataFrame) -> pd.Series:
    """A game's place in its season, 0 to about 1 (the mean of both teams' progress)."""
    return (frame["home__season_progress"] + frame["away__season_progress"]) / 2


def phase_reference(
    reference: pd.DataFrame, current: pd.DataFrame, band: float
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Rows of `reference` from seasons before the current window's, whose season phase lies
    within `band` of the current window's phase range, matched to the window's phases; and
    that range, widened."""
    phase = season_phase(current)
    low, high = float(phase.min()) - band, float(phase.max()) + band
    ref_phase = season_phase(reference)
    earlier = reference["season"] < current["season"].min()
    within = reference[earlier & ref_phase.between(low, high)]
    return phase_matched(within, phase, max(band, PHASE_BIN)), (low, high)


# The narrowest phase bin the reference is matched in (about a day and a half of an NBA season).
PHASE_BIN = 0.005


def phase_matched(reference: pd.DataFrame, phase: pd.Series, width: float) -> pd.DataFrame:
    """Rows of `reference` whose phases are spread as `phase` (the window's) are: in each bin of
    `width`, the same multiple of the window's games, as many as every bin can give (a fixed
    draw: the same reference every time). Bins the reference has no games in are left out."""
    if reference.empty or phase.empty:
        return reference
    bins_ref = np.floor(season_phase(reference).to_numpy() / width)
    wanted = pd.Series(np.floor(phase.to_numpy() / width)).value_counts()
    have = pd.Series(bins_ref).value_counts().reindex(wanted.index, fill_value=0)
    usable = have > 0
    if not usable.any():
        return reference.iloc[:0]
    multiple = float((have[usable] / wanted[usable]).min())
    rng = np.random.default_rng(0)
    keep: list[np.ndarray] = []
    for bin_id, count in wanted[usable].items():
        rows = np.flatnonzero(bins_ref == bin_id)
        take = min(len(rows), max(1, round(multiple * count)))
        keep.append(np.sort(rng.choice(rows, size=take, replace=False)))
    return reference.iloc[np.sort(np.concatenate(keep))]


# A method named by us (`column_test`) as Evidently names its own choice of it: its name says
# whether its score is a p-value.
METHOD_NAMES = {"ks": "K-S p_value"}


def _verdict(score: float, method: str, threshold: float) -> bool:
    """Evidently's rule: a p-value test drifts below its threshold, a distance at or above."""
    return score < threshold if "p_value" in method else score >= threshold


def column_drifts(snapshot: Any) -> list[ColumnDrift]:
    """Every ValueDrift metric of an Evidently snapshot, by its type and column."""
    out = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type") != VALUE_DRIFT:
            continue
        score, threshold = float(metric["value"]), float(config["threshold"])
        method = str(config.get("method", ""))
        method = METHOD_NAMES.get(method, method)
        out.append(
            ColumnDrift(
                column=str(config["column"]),
                score=score,
                method=method,
                threshold=threshold,
                drifted=_verdict(score, method, threshold),
            )
        )
    return out


def column_test(test: str) -> dict[str, Any]:
    """ValueDrift's method: with `ks`, Kolmogorov-Smirnov at p < 0.05 (on a 0/1 column it is
    conservative: it alarms less often than 5% by chance); with `auto`, Evidently's choice."""
    return {} if test == "auto" else {"method": "ks", "threshold": 0.05}


def value_drifts(current: pd.DataFrame, reference: pd.DataFrame, test: str) -> list[ColumnDrift]:
    """What a report of one ValueDrift per column finds (`column_drifts`), without the report:
    Evidently's own test for each column, chosen and run as ValueDrift does (the column's type
    as Evidently infers it from `current`, infinities and missing values dropped on each side).
    A report also draws each column's figure for its HTML page, about three quarters of its
    time, which a drift measured with no page to show (a replay's) does not need."""
    from evidently import Dataset
    from evidently.legacy.calculations.stattests.registry import get_stattest

    chosen = column_test(test)
    types = Dataset.from_any(current)
    out = []
    for column in current.columns:
        kind = types.column(column).type
        now, then = (
            side[column].replace([-np.inf, np.inf], np.nan).dropna()
            for side in (current, reference)
        )
        stattest = get_stattest(then, now, kind, chosen.get("method"))
        result = stattest(then, now, kind, chosen.get("threshold"))
        score, threshold = float(result.drift_score), float(result.actual_threshold)
        out.append(
            ColumnDrift(
                column=str(column),
                score=score,
                method=stattest.display_name,
                threshold=threshold,
                drifted=_verdict(score, stattest.display_name, threshold),
            )
        )
    return out


def measure_drift(
    kind: Literal["data", "prediction"],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    share_threshold: float,
    min_rows: int,
    report: Path | None,
    test: str = "ks",
) -> DriftResult:
    """Evidently's drift of `columns` between the two frames (`test`: see `column_test`); the
    HTML report at `report` (None: no report, as in the replay: `value_drifts`, the same
    verdicts). Too few rows on either side: 'not enough data', never an alarm."""
    base = DriftResult(
        kind=kind,
        status="not enough data",
        current_rows=len(current),
        reference_rows=len(reference),
        share_threshold=share_threshold,
    )
    missing = [c for c in columns if c not in current or c not in reference]
    if missing:
        return base.model_copy(update={"detail": f"columns missing from the data: {missing}"})
    if len(current) < min_rows or len(reference) < min_rows:
        detail = f"{len(current)} current and {len(reference)} reference rows; need {min_rows}"
        return base.model_copy(update={"detail": detail})
    # A column with no value on one side (a feature source missing for every served game) has
    # no distribution to compare: it is left out and named (the source's own alert covers it).
    empty = [c for c in columns if current[c].isna().all() or reference[c].isna().all()]
    columns = [c for c in columns if c not in empty]
    if not columns:
        return base.model_copy(update={"detail": f"every column is empty on one side: {empty}"})
    skipped = f"not measured (no values on one side): {empty}" if empty else ""
    now, then = current[columns].astype("float64"), reference[columns].astype("float64")
    if report is None:
        drifts = value_drifts(now, then, test)
    else:
        from evidently import Report
        from evidently.metrics import DriftedColumnsCount, ValueDrift

        # One ValueDrift per column: the same tests and verdicts as DataDriftPreset, without
        # the column summaries the preset also computes (they took 45% of the monitor's time).
        # The HTML report gets the drifted count on top.
        metrics: list[Any] = [DriftedColumnsCount(columns=columns, drift_share=share_threshold)]
        metrics += [ValueDrift(column=c, **column_test(test)) for c in columns]
        snapshot = Report(metrics).run(current_data=now, reference_data=then)
        atomic_write(report, lambda tmp: snapshot.save_html(str(tmp)))
        drifts = column_drifts(snapshot)
    share = float(np.mean([d.drifted for d in drifts])) if drifts else 0.0
    return base.model_copy(
        update={
            "status": "ok",
            "detail": skipped,
            "drifted_share": share,
            "drifted": share >= share_threshold,
            "columns": drifts,
            "report": report,
        }
    )


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
