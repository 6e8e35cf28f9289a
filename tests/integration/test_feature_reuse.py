"""The feature build is skipped only when its tables were built from exactly the same games,
facts, settings and code, and are still the files it wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import state_paths
from gameline.tasks.features.fingerprint import record_path
from gameline.tasks.features.team import write_team_features
from tests.builders import STAR_SOURCE, ingested, small_sim_config, with_changes

pytestmark = pytest.mark.integration


def stamps(paths: list[Path]) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


def test_a_build_is_reused_until_an_input_or_a_table_changes(tmp_path: Path) -> None:
    config = small_sim_config(tmp_path / "state", features={"sources": [STAR_SOURCE]})
    ingested(config)  # builds the tables once
    paths = state_paths(config)
    tables = [paths.team_features, paths.team_states, paths.source_table("star")]
    first = stamps(tables)
    built = write_team_features(config)
    assert stamps(tables) != first  # without `reuse`, always rebuilt (`gameline features`)
    built_at = stamps(tables)
    assert write_team_features(config, reuse=True) == built  # the same summary, read back
    assert stamps(tables) == built_at  # and nothing written

    # A setting of the features: rebuilt.
    changed = with_changes(config, features={"windows": [3]})
    assert write_team_features(changed, reuse=True).features != built.features
    assert write_team_features(config).features == built.features

    # A corrected result in the game store: rebuilt.
    games = pd.read_parquet(paths.raw_games)
    final = games.index[games["home_score"].notna()][0]
    games.loc[final, "home_score"] += 1
    games.to_parquet(paths.raw_games, index=False)
    before = stamps(tables)
    write_team_features(config, reuse=True)
    assert all(a != b for a, b in zip(stamps(tables), before, strict=True))

    # A table deleted, or the record unreadable: rebuilt.
    for damage in (paths.team_states.unlink, lambda: record_path(config).write_text("{")):
        damage()
        assert write_team_features(config, reuse=True) == write_team_features(config, reuse=True)
        assert paths.team_states.exists()
