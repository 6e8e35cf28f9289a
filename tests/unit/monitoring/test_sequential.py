"""The CUSUM: quiet on noise, an alarm soon after a lasting shift, and when it began."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

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


def test_cusum_by_hand_resets_dates_its_run_and_keeps_the_first_alarm() -> None:
    """S_t = max(0, S_{t-1} + x_t - k) with k = 0.5, h = 4, worked out by hand: 0.5, 2.0, 0
    (reset), 2.5, 4.0 (equal to h: no alarm), 6.5 (alarm, its run began at t=3), 0 (reset),
    1.5 (below h again: the first alarm stays)."""
    values = np.array([1.0, 2.0, -5.0, 3.0, 2.0, 3.0, -9.0, 2.0])
    result = cusum(values, TIMES[:8], k=0.5, h=4.0)
    assert result.statistic == 1.5 and result.peak == 6.5 and result.games == 8
    assert (result.k, result.h) == (0.5, 4.0)
    assert result.alarm and result.alarm_at == TIMES[5].to_pydatetime()
    assert result.since == TIMES[3].to_pydatetime()


def test_cusum_at_the_threshold_is_no_alarm() -> None:
    result = cusum(np.array([2.0, 2.0]), TIMES[:2], k=0.0, h=4.0)
    assert result.statistic == 4.0 and not result.alarm and result.alarm_at is None
    assert result.since is None


def test_standardized_residuals_by_hand_and_clipped_at_the_edges() -> None:
    z = standardized_residuals(np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.8, 0.2, 0.0, 1.0]))
    edge = (1 - 1e-6) / np.sqrt(1e-6 * (1 - 1e-6))  # p clipped to [1e-6, 1 - 1e-6]
    np.testing.assert_allclose(z, [0.5, -0.5, edge, -edge], rtol=1e-9)  # 1 - 1e-6 rounds


def test_cusum_peak_below_one_times_read_as_utc_and_lengths_must_match() -> None:
    small = cusum(np.array([0.2, 0.1]), TIMES[:2], k=0.0, h=4.0)
    assert small.peak == pytest.approx(0.3) and small.statistic == pytest.approx(0.3)
    naive = pd.Series(pd.date_range("2026-01-01", periods=2, freq="h"))  # no time zone
    alarm = cusum(np.array([3.0, 3.0]), naive, k=0.0, h=4.0)
    assert alarm.alarm_at == datetime(2026, 1, 1, 1, tzinfo=UTC)  # read as UTC
    with pytest.raises(ValueError):
        cusum(np.array([1.0, 2.0, 3.0]), TIMES[:2], k=0.0, h=4.0)
