"""Drift compares like with like: a reference matched to the window's season phases, and a test
whose false alarms do not grow with the reference's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.monitoring.drift import measure_drift, phase_reference, season_phase


def games(n: int, phases: np.ndarray, season: int, seed: int) -> pd.DataFrame:
    """Games of one season at the given phases: games played follows the phase, the rest is
    the same distribution in every season."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "game_id": [f"{season}-{i}" for i in range(n)],
            "season": season,
            "home__season_progress": phases,
            "away__season_progress": phases,
            "home__games_played": np.round(phases * 82),
            "home__elo_pre": rng.normal(1500, 100, n),
            "home__margin_10": rng.normal(0, 5, n),
        }
    )


def history(seasons: range, per_season: int = 1230) -> pd.DataFrame:
    return pd.concat(
        games(per_season, np.linspace(0, 1, per_season), s, seed=s) for s in seasons
    ).reset_index(drop=True)


def test_the_reference_spreads_over_the_phases_as_the_window_does() -> None:
    reference = history(range(2013, 2018))
    # A season's first two weeks, most games late in them (more teams playing each day).
    window = games(
        100, np.sort(np.random.default_rng(1).triangular(0.01, 0.12, 0.12, 100)), 2018, 1
    )
    matched, (low, high) = phase_reference(reference, window, band=0.02)
    assert low < 0.01 and high > 0.12 and (matched["season"] < 2018).all()
    assert len(matched) >= 300
    assert abs(season_phase(matched).mean() - season_phase(window).mean()) < 0.003
    assert matched["game_id"].is_unique
    # The same draw every time: the monitor's verdict does not change between two runs.
    assert phase_reference(reference, window, band=0.02)[0]["game_id"].equals(matched["game_id"])
    columns = ["home__games_played", "home__elo_pre", "home__margin_10"]
    found = measure_drift("data", matched, window, columns, 0.5, 100, None)
    assert found.status == "ok" and not found.drifted
    assert not [c.column for c in found.columns if c.drifted]
    # Unmatched, the band's reach into the third week makes games played "drift".
    within = reference[season_phase(reference).between(low, high)]
    unmatched = measure_drift("data", within, window, ["home__games_played"], 0.5, 100, None)
    assert unmatched.columns[0].drifted


def test_a_window_from_the_same_distribution_is_not_drift_whatever_the_sizes() -> None:
    """Evidently's own choice for a reference over 1,000 rows is a distance at 0.1, which a
    100-game window of the very same distribution exceeds by chance; the K-S test does not."""
    rng = np.random.default_rng(5)
    columns = [f"x{i}" for i in range(12)]
    reference = pd.DataFrame(rng.normal(size=(2000, 12)), columns=columns)
    window = pd.DataFrame(rng.normal(size=(100, 12)), columns=columns)
    ks = measure_drift("data", reference, window, columns, 0.5, 50, None)
    assert {c.method for c in ks.columns} == {"K-S p_value"}
    assert ks.drifted_share is not None and ks.drifted_share <= 0.2 and not ks.drifted
    auto = measure_drift("data", reference, window, columns, 0.5, 50, None, test="auto")
    assert auto.drifted_share is not None and auto.drifted_share > ks.drifted_share
    # A real shift of half a standard deviation in most columns is found.
    shifted = window + np.r_[np.full(9, 0.5), np.zeros(3)]
    found = measure_drift("data", reference, shifted, columns, 0.5, 50, None)
    assert found.drifted and {c.column for c in found.columns if c.drifted} >= set(columns[:7])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the report's figures of an infinity
def test_without_a_report_the_verdicts_are_the_reports(tmp_path: Path) -> None:
    """A drift measured without its HTML page (a replay's) runs Evidently's tests itself: the
    same test, score, threshold and verdict per column as the report's, for the K-S test and
    for Evidently's own choice (which differs by size and by how many values a column has)."""
    rng = np.random.default_rng(11)

    def frame(n: int, shift: float) -> pd.DataFrame:
        data = pd.DataFrame(
            {
                "normal": rng.normal(shift, 1, n),
                "flag": (rng.random(n) < 0.3 + shift / 4).astype(float),
                "small_counts": rng.integers(0, 4, n).astype(float),
                "gappy": np.where(rng.random(n) < 0.4, np.nan, rng.normal(shift, 2, n)),
                "wide": rng.normal(0, 10, n),
            }
        )
        data.loc[0, "wide"] = np.inf  # dropped on both paths
        return data

    columns = ["normal", "flag", "small_counts", "gappy", "wide"]
    methods: set[str] = set()
    for reference_rows, window_rows in ((2000, 120), (300, 80)):
        reference, window = frame(reference_rows, 0.0), frame(window_rows, 0.6)
        for test in ("ks", "auto"):
            page = tmp_path / f"{reference_rows}-{test}.html"
            shown = measure_drift("data", reference, window, columns, 0.5, 50, page, test=test)
            bare = measure_drift("data", reference, window, columns, 0.5, 50, None, test=test)
            assert page.stat().st_size > 0 and bare.report is None
            assert [c.column for c in bare.columns] == columns
            assert bare.columns == shown.columns, (reference_rows, test)
            assert (bare.drifted_share, bare.drifted) == (shown.drifted_share, shown.drifted)
            methods.update(c.method for c in bare.columns)
    assert any(c.drifted for c in bare.columns) and not all(c.drifted for c in bare.columns)
    assert len(methods) >= 3, methods  # K-S and more than one of Evidently's own choices
