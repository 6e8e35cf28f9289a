"""What a day with nothing new skips: the feature build, when its tables were built from exactly
the same games, facts, settings and code and are still the files it wrote; the online store's
loads, when the team rows are current and a source's table is the one last loaded."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import state_paths
from gameline.tasks.features.context import game_context
from gameline.tasks.features.fingerprint import record_path
from gameline.tasks.features.service import TEAM_VIEW
from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time
from gameline.tasks.features.team import write_team_features
from gameline.tasks.serving.predict import upcoming_games
from tests.builders import (
    AS_OF,
    STAR_SOURCE,
    all_sources_config,
    ingested,
    ingested_with_sources,
    small_sim_config,
    with_changes,
)

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


SOURCES = ("star", "box_score", "lines")


def test_the_online_store_is_loaded_only_with_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = all_sources_config(tmp_path / "state")
    games = ingested_with_sources(config)
    store = TeamFeatureStore.from_config(config)
    store.apply()
    loads: list[str] = []
    materialize = store._materialize

    def counted(start: datetime, end: datetime, view: str = TEAM_VIEW) -> None:
        loads.append(view)
        materialize(start, end, view)

    monkeypatch.setattr(store, "_materialize", counted)
    end = latest_feature_time(state_paths(config).team_states) + timedelta(seconds=1)
    store.refresh_online(end)
    assert sorted(loads) == sorted([TEAM_VIEW, *SOURCES])

    loads.clear()  # a day with nothing new: nothing loaded, the team rows checked current
    assert not store.refresh_online(end).rebuilt and loads == []

    star = state_paths(config).source_table("star")  # one source's table written again
    star.write_bytes(star.read_bytes())
    store.refresh_online(end)
    assert loads == ["star"]

    loads.clear()  # the online store emptied: the team rows are not current, all reloaded
    online = store._provider().online_store
    views = [store.store.get_feature_view(name) for name in (TEAM_VIEW, *SOURCES)]
    online.update(store.store.config, views, [], [], [], True)
    online.update(store.store.config, [], views, [], [], True)
    assert store.refresh_online(end).rebuilt
    assert sorted(loads) == sorted([TEAM_VIEW, *SOURCES])
    week = upcoming_games(games, AS_OF, horizon_hours=24 * 7)
    context = game_context(games, config.features, config.league)
    online = store.online_features(week, context, AS_OF)
    assert online[["home__star_out", "home__net_rating_5"]].notna().all().all()
