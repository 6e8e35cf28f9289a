"""A feature source that stops arriving is one finding, never a retrain trigger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gameline.tasks.config import state_paths
from gameline.tasks.monitoring.alerts import DEGRADATION_KINDS, DRIFT_KINDS
from gameline.tasks.monitoring.sources import source_findings
from gameline.tasks.storage import write_parquet
from tests.builders import small_sim_config

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_stale_or_missing_source_is_found(tmp_path: Path) -> None:
    sources = [
        {"name": "inj", "kind": "team_timeline", "path": "x.csv", "features": {"out": {}},
         "max_age_days": 3},
        {"name": "lines", "kind": "game_facts", "path": "y.csv", "features": {"ml": {}},
         "max_missing_share": 0.25},
    ]  # fmt: skip
    config = small_sim_config(tmp_path, features={"sources": sources})
    paths = state_paths(config)
    table = pd.DataFrame({"team": ["A"], "event_timestamp": [pd.Timestamp("2026-02-20", tz="UTC")]})
    write_parquet(table, paths.source_table("inj"))
    predictions = pd.DataFrame(
        {
            "predicted_at": [NOW] * 4,
            "missing_features": ["game__ml", None, "game__ml, team__out", None],
        }
    )
    findings, checked = source_findings(config, predictions, NOW)
    assert checked
    assert [f.kind for f in findings] == ["source_stale"]
    summary = findings[0].summary
    assert "inj: newest fact 9.0 days old (at most 3)" in summary
    assert "lines: missing for 50% of the latest predicted games (at most 25%)" in summary
    assert "source_stale" not in (*DRIFT_KINDS, *DEGRADATION_KINDS)
    fresh = table.assign(event_timestamp=pd.Timestamp("2026-02-28", tz="UTC"))
    write_parquet(fresh, paths.source_table("inj"))
    served = predictions.assign(missing_features=None)
    assert source_findings(config, served, NOW) == ([], True)


def test_a_column_empty_on_one_side_is_left_out_of_drift_and_named() -> None:
    import numpy as np

    from gameline.tasks.monitoring.drift import measure_drift

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=300), "game__line": np.nan})
    current = pd.DataFrame({"a": rng.normal(size=300), "game__line": rng.normal(size=300)})
    result = measure_drift("data", reference, current, ["a", "game__line"], 0.5, 100, None)
    assert result.status == "ok" and [c.column for c in result.columns] == ["a"]
    assert "game__line" in result.detail
    only = measure_drift("data", reference, current, ["game__line"], 0.5, 100, None)
    assert only.status == "not enough data" and "game__line" in only.detail
