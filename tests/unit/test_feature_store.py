"""Feast: apply, point-in-time training sets (proven equal to Feast's own join), online
features consistent with offline ones, TTL and unknown teams."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store, stage_input, store_input
from gameline.tasks.data.validate import check_input
from gameline.tasks.features.store import (
    FeatureStoreError,
    apply_definitions,
    online_features,
    open_store,
    point_in_time_join,
    rebuild_online,
    training_set,
)
from gameline.tasks.features.team import feature_columns, write_team_features
from tests.conftest import REPO

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def ingested(config: GamelineConfig) -> pd.DataFrame:
    """Run ingest + features through the plain task functions; return the stored games."""
    staged = stage_input(config)
    checked = check_input(config, staged.path, staged.label, NOW)
    store_input(config, staged, checked, NOW)
    write_team_features(config)
    return read_store(state_paths(config).raw_games)


@pytest.fixture
def config(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return sim_config(source={"simulator": {"upcoming_days": 7}})


def test_feast_apply_of_the_repo_folder(tmp_path: Path) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(REPO / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".gameline" / "feast").mkdir(parents=True)  # `make demo` makes it in real use
    feast = Path(sys.executable).with_name("feast")
    done = subprocess.run(
        [str(feast), "apply"], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / ".gameline" / "feast" / "registry.db").exists()
    listed = subprocess.run(
        [str(feast), "feature-services", "list"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "game_features_v1" in listed.stdout


def test_training_set_equals_feasts_own_point_in_time_join(config: GamelineConfig) -> None:
    games = ingested(config)
    store = open_store(config)
    apply_definitions(config, store)
    ours = training_set(config, games, store=store)
    theirs = training_set(config, games, engine="feast", store=store)
    assert len(ours) == len(games) and ours["game_id"].tolist() == games["game_id"].tolist()
    columns = [c for c in ours.columns if "__" in c]
    assert len(columns) == 2 * len(feature_columns(config.features))
    pd.testing.assert_frame_equal(
        ours[["game_id", *columns]], theirs[["game_id", *columns]], check_dtype=False
    )
    finals = games["status"] == "final"
    assert ours.loc[finals.to_numpy(), "home_win"].notna().all()
    assert ours.loc[~finals.to_numpy(), "home_win"].isna().all()


def test_a_value_stamped_after_the_game_never_reaches_it() -> None:
    start = pd.Timestamp("2025-01-10 00:00", tz="UTC")
    entities = pd.DataFrame(
        {"game_id": ["g"], "home_team": ["A"], "away_team": ["B"], "event_timestamp": [start]}
    )
    features = pd.DataFrame(
        {
            "team": ["A", "A", "B"],
            "event_timestamp": [
                start,
                start + pd.Timedelta(seconds=1),
                start - pd.Timedelta(days=3),
            ],
            "elo_pre": [1500.0, 9999.0, 1400.0],
        }
    )
    projections = [("home", "home_team", ["elo_pre"]), ("away", "away_team", ["elo_pre"])]
    row = point_in_time_join(entities, features, projections, timedelta(days=30)).iloc[0]
    assert row["home__elo_pre"] == 1500.0  # the row stamped at the start, not the later one
    assert row["away__elo_pre"] == 1400.0
    expired = point_in_time_join(entities, features, projections, timedelta(days=1)).iloc[0]
    assert pd.isna(expired["away__elo_pre"])  # older than the TTL


def test_online_features_right_before_a_game_equal_its_training_row(config: GamelineConfig) -> None:
    games = ingested(config)
    store = open_store(config)
    apply_definitions(config, store)
    upcoming = games[games["status"] == "scheduled"].head(1)
    start = upcoming["start_time"].iloc[0].to_pydatetime()
    rebuild_online(config, end=start + timedelta(seconds=1), store=store)
    online = online_features(config, upcoming, now=start, store=store)
    offline = training_set(config, upcoming, store=store)
    columns = [c for c in offline.columns if "__" in c]
    pd.testing.assert_frame_equal(online[columns], offline[columns], check_dtype=False)
    assert bool(online["feature_time_matches_game"].iloc[0])
    assert not bool(online["stale"].iloc[0])


def test_stale_values_are_flagged_and_unknown_teams_refused(config: GamelineConfig) -> None:
    games = ingested(config)
    store = open_store(config)
    apply_definitions(config, store)
    rebuild_online(config, end=NOW + timedelta(days=8), store=store)
    upcoming = games[games["status"] == "scheduled"].head(2)
    later = NOW + timedelta(days=config.feast.ttl_days + 30)
    assert online_features(config, upcoming, now=later, store=store)["stale"].all()
    assert not online_features(config, upcoming, now=NOW, store=store)["stale"].any()
    unknown = upcoming.assign(away_team="NOPE")
    with pytest.raises(FeatureStoreError, match=r"\['NOPE'\]"):
        online_features(config, unknown, now=NOW, store=store)


def test_watermark_survives_a_re_apply(config: GamelineConfig) -> None:
    ingested(config)
    store = open_store(config)
    apply_definitions(config, store)
    first = rebuild_online(config, end=NOW, store=store)
    assert first.watermark_before is None
    apply_definitions(config, open_store(config))
    second = rebuild_online(config, end=NOW + timedelta(days=1), store=open_store(config))
    assert second.watermark_before == NOW


def test_online_reader_serves_what_feast_serves(config: GamelineConfig) -> None:
    from gameline.tasks.features.store import FEATURE_SERVICE, OnlineReader
    from gameline.tasks.features.team import feature_columns

    games = ingested(config)
    store = open_store(config)
    apply_definitions(config, store)
    rebuild_online(config, end=NOW + timedelta(days=8), store=store)
    game = games[games["status"] == "scheduled"].iloc[0]
    names = feature_columns(config.features)
    ours = OnlineReader(store, names).game(game["home_team"], game["away_team"])
    feast = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        full_feature_names=True,
        entity_rows=[{"home_team": game["home_team"], "away_team": game["away_team"]}],
    ).to_dict()
    for side in ("home", "away"):
        for name in names:
            assert ours[f"{side}__{name}"] == pytest.approx(
                feast[f"{side}__{name}"][0], nan_ok=True
            )
    assert game["start_time"] <= ours["home_feature_ts"] <= NOW + timedelta(days=8)
