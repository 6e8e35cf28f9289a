"""The CUSUM: quiet on noise, an alarm soon after a lasting shift, and when it began."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gameline.tasks.monitoring.sequential import cusum, standardized_residuals

TIMES = pd.Series(pd.date_range("2026-01-01", periods=2000, freq="2h", tz="UTC"))


def test_noise_alone_stays_below_the_threshold() -> None:
    rng = np.random.default_rng(1)
    result = cusum(rng.normal(size=2000), TIMES, k=0.15, h=25)
    assert not result.alarm and result.peak < 25 and result.games == 2000


def test_a_shift_is_found_soon_after_it_starts_and_dated() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=2000)
    values[1000:] += 0.5  # a lasting shift of half a standard deviation
    result = cusum(values, TIMES, k=0.15, h=25)
    assert result.alarm and result.alarm_at is not None and result.since is not None
    delay = (result.alarm_at - TIMES[1000].to_pydatetime()).total_seconds() / 7200
    assert 0 < delay < 200  # about h / (0.5 - k) = 71 games
    assert result.since <= result.alarm_at


def test_missing_values_are_skipped() -> None:
    values = np.array([np.nan, 5.0, np.nan, 5.0])
    result = cusum(values, TIMES[:4], k=0.0, h=9)
    assert result.games == 2 and result.alarm and result.alarm_at == TIMES[3].to_pydatetime()


def test_standardized_residuals_have_unit_variance_when_calibrated() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.2, 0.8, size=50_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    z = standardized_residuals(y, p)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
