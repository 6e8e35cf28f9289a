"""Sequential tests on per-game values in start order: a CUSUM finds a lasting shift of the
mean within a delay of about h / (shift - k) games, while a shift below the allowance k (noise,
small biases) almost never reaches the threshold h."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel


class CusumResult(BaseModel):
    """A one-sided CUSUM over a sequence: where it stands, its peak, and its first alarm."""

    statistic: float
    peak: float
    k: float
    h: float
    games: int
    alarm: bool
    alarm_at: datetime | None = None
    since: datetime | None = None


def cusum(values: np.ndarray, times: pd.Series, k: float, h: float) -> CusumResult:
    """Upper CUSUM S_t = max(0, S_{t-1} + x_t - k) of `values` (in start order); the alarm is
    the first t with S_t > h, and `since` the start of the run that led to it."""
    s, peak, start = 0.0, 0.0, None
    alarm_at = since = None
    stamps = list(pd.to_datetime(times, utc=True))
    for x, when in zip(np.asarray(values, dtype=float), stamps, strict=True):
        if np.isnan(x):
            continue
        s = max(0.0, s + x - k)
        start = None if s == 0 else (start or when)
        peak = max(peak, s)
        if s > h and alarm_at is None:
            alarm_at, since = when.to_pydatetime(), start.to_pydatetime() if start else None
    return CusumResult(
        statistic=s,
        peak=peak,
        k=k,
        h=h,
        games=int(np.sum(~np.isnan(np.asarray(values, dtype=float)))),
        alarm=alarm_at is not None,
        alarm_at=alarm_at,
        since=since,
    )


def standardized_residuals(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(y - p) / sqrt(p (1 - p)): mean 0 and variance 1 per game while p is calibrated."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return (np.asarray(y, dtype=float) - p) / np.sqrt(p * (1 - p))
