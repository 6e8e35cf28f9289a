"""The monitor watches the served P(cover) and P(over) at the posted lines: a lasting bias
raises an alarm (an alert kind of its own), calibrated probabilities stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gameline.tasks.config import MonitorConfig
from gameline.tasks.monitoring.monitor import performance_findings
from gameline.tasks.monitoring.performance import (
    Performance,
    line_calibration,
    served_line_results,
)


def served(p_cover: float, n: int = 600, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Served predictions of `n` finished games whose home side covers half the time at the
    posted spread, served with P(cover) = `p_cover`; and the games' results."""
    rng = np.random.default_rng(seed)
    margin = rng.integers(-20, 21, n).astype(float)
    spread = np.full(n, -0.5)  # covers when the home side wins by 1 or more
    ids = [f"g{i}" for i in range(n)]
    outcomes = pd.DataFrame(
        {
            "game_id": ids,
            "start_time": pd.date_range("2026-01-01", periods=n, freq="6h", tz="UTC"),
            "home_spread": spread,
            "total_line": np.full(n, 220.5),
            "p_cover": np.full(n, p_cover),
            "p_over": np.full(n, 0.5),
        }
    )
    games = pd.DataFrame(
        {
            "game_id": ids,
            "status": "final",
            "home_score": 110 + margin,
            "away_score": np.full(n, 110.0),
        }
    )
    return outcomes, games


def test_results_at_the_served_line_push_and_missing_lines_count_as_unknown() -> None:
    outcomes, games = served(0.5, n=4)
    outcomes.loc[3, "home_spread"] = np.nan
    games.loc[:, "home_score"] = [120.0, 100.0, 110.0, 130.0]
    games.loc[:, "away_score"] = [110.0, 110.0, 110.0, 90.0]
    outcomes["total_line"] = [229.5, 215.0, 220.0, 220.0]
    found = served_line_results(outcomes, games)
    assert found["y_cover"].tolist()[:3] == [1.0, 0.0, 0.0]  # a level game misses a -0.5 line
    assert np.isnan(found["y_cover"].iloc[3])  # served without a line: not judged
    assert found["y_over"].tolist()[:2] == [1.0, 0.0] and np.isnan(found["y_over"].iloc[2])


def test_a_biased_p_cover_raises_its_own_alert_and_an_honest_one_does_not() -> None:
    cfg = MonitorConfig()
    for p_cover, alarm in ((0.5, False), (0.62, True)):
        outcomes, games = served(p_cover)
        lines = line_calibration(served_line_results(outcomes, games), cfg)
        assert set(lines) == {"cover", "over"}
        assert lines["cover"].alarm is alarm and not lines["over"].alarm
        performance = Performance(
            status="ok",
            champion_version="1",
            games=600,
            first_game=outcomes["start_time"].min(),
            lines=lines,
        )
        kinds = [f.kind for f in performance_findings(performance)]
        assert kinds == (["cover_miscalibration"] if alarm else [])
    finding = performance_findings(performance)[0]
    assert "served P(cover) is higher than how often the home side covers" in finding.summary
