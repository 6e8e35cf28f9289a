"""Feast: apply, point-in-time training sets (proven equal to Feast's own join), online
features consistent with offline ones, TTL and unknown teams."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from gameline.feature_repo.definitions import FEATURE_SERVICE
from gameline.tasks.config import GamelineConfig
from gameline.tasks.features.store import FeatureStoreError, TeamFeatureStore
from gameline.tasks.features.team import feature_columns
from tests.conftest import NOW, REPO, ingested

pytestmark = pytest.mark.integration


def applied(config: GamelineConfig) -> TeamFeatureStore:
    """The config's feature store with its definitions applied."""
    store = TeamFeatureStore.from_config(config)
    store.apply()
    return store


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
    store = applied(config)
    ours = store.training_set(games)
    theirs = store.training_set(games, engine="feast")
    assert len(ours) == len(games) and ours["game_id"].tolist() == games["game_id"].tolist()
    columns = [c for c in ours.columns if "__" in c]
    assert len(columns) == 2 * len(feature_columns(config.features))
    pd.testing.assert_frame_equal(
        ours[["game_id", *columns]], theirs[["game_id", *columns]], check_dtype=False
    )
    finals = games["status"] == "final"
    assert ours.loc[finals.to_numpy(), "home_win"].notna().all()
    assert ours.loc[~finals.to_numpy(), "home_win"].isna().all()


def test_online_features_right_before_a_game_equal_its_training_row(config: GamelineConfig) -> None:
    games = ingested(config)
    store = applied(config)
    upcoming = games[games["status"] == "scheduled"].head(1)
    start = upcoming["start_time"].iloc[0].to_pydatetime()
    store.rebuild_online(end=start + timedelta(seconds=1))
    online = store.online_features(upcoming, now=start)
    offline = store.training_set(upcoming)
    columns = [c for c in offline.columns if "__" in c]
    pd.testing.assert_frame_equal(online[columns], offline[columns], check_dtype=False)
    assert bool(online["feature_time_matches_game"].iloc[0])
    assert not bool(online["stale"].iloc[0])


def test_stale_values_are_flagged_and_unknown_teams_refused(config: GamelineConfig) -> None:
    games = ingested(config)
    store = applied(config)
    store.rebuild_online(end=NOW + timedelta(days=8))
    upcoming = games[games["status"] == "scheduled"].head(2)
    later = NOW + timedelta(days=config.feast.ttl_days + 30)
    assert store.online_features(upcoming, now=later)["stale"].all()
    assert not store.online_features(upcoming, now=NOW)["stale"].any()
    unknown = upcoming.assign(away_team="NOPE")
    with pytest.raises(FeatureStoreError, match=r"\['NOPE'\]"):
        store.online_features(unknown, now=NOW)


def test_watermark_survives_a_re_apply(config: GamelineConfig) -> None:
    ingested(config)
    first = applied(config).rebuild_online(end=NOW)
    assert first.watermark_before is None
    second = applied(config).rebuild_online(end=NOW + timedelta(days=1))
    assert second.watermark_before == NOW


def test_online_reader_serves_what_feast_serves(config: GamelineConfig) -> None:
    games = ingested(config)
    adapter = applied(config)
    adapter.rebuild_online(end=NOW + timedelta(days=8))
    game = games[games["status"] == "scheduled"].iloc[0]
    names = feature_columns(config.features)
    ours = adapter.reader().game(game["home_team"], game["away_team"])
    store = adapter.store
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


def test_the_private_feast_calls_the_adapter_makes_still_exist(config: GamelineConfig) -> None:
    """`TeamFeatureStore` reaches into Feast's provider (private in Feast 0.67) to empty the
    view's online table and to read rows; an upgrade that moves these fails here, loudly."""
    import inspect

    online = applied(config)._provider().online_store
    for name, params in {
        "update": ["config", "tables_to_delete", "tables_to_keep", "partial"],
        "online_read": ["config", "table", "entity_keys", "requested_features"],
    }.items():
        assert callable(getattr(online, name, None)), f"Feast online store lost {name}()"
        signature = inspect.signature(getattr(online, name)).parameters
        assert all(p in signature for p in params), f"{name}{list(signature)} changed"
    from feast.infra.online_stores.redis import RedisOnlineStore

    assert list(inspect.signature(RedisOnlineStore.delete_table).parameters) == [
        "self",
        "config",
        "table",
    ]
