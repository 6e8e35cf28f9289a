"""Feast: apply, point-in-time training sets (proven equal to Feast's own join), online
features consistent with offline ones, TTL and unknown teams."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.features.context import game_context
from gameline.tasks.features.service import FEATURE_SERVICE
from gameline.tasks.features.store import FeatureStoreError, TeamFeatureStore
from gameline.tasks.features.team import feature_columns
from tests.builders import NOW, REPO, ingested

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
    assert "game_features_v2" in listed.stdout


def context_of(config: GamelineConfig, games: pd.DataFrame) -> pd.DataFrame:
    return game_context(games, config.features, config.league)


def test_training_set_equals_feasts_own_point_in_time_join(config: GamelineConfig) -> None:
    games = ingested(config)
    store = applied(config)
    context = context_of(config, games)
    ours = store.training_set(games, context)
    theirs = store.training_set(games, context, engine="feast")
    assert len(ours) == len(games) and ours["game_id"].tolist() == games["game_id"].tolist()
    columns = [c for c in ours.columns if "__" in c]
    assert len(columns) == 2 * len(feature_columns(config.features))
    pd.testing.assert_frame_equal(
        ours[["game_id", *columns]], theirs[["game_id", *columns]], check_dtype=False
    )
    finals = games["status"] == "final"
    assert ours.loc[finals.to_numpy(), "home_win"].notna().all()
    assert ours.loc[~finals.to_numpy(), "home_win"].isna().all()
    # The same values as the team-features rows written at ingest (the leakage-tested ones).
    rows = pd.read_parquet(state_paths(config).team_features).set_index(["game_id", "team"])
    home = rows.loc[list(zip(games["game_id"], games["home_team"], strict=True))]
    for name in feature_columns(config.features):
        np.testing.assert_allclose(ours[f"home__{name}"], home[name], equal_nan=True)


def test_every_upcoming_game_online_equals_its_training_row(config: GamelineConfig) -> None:
    """One load of the online store serves every upcoming game of the week, including teams'
    second and third games, with exactly the offline training values; serving writes nothing."""
    games = ingested(config)
    store = applied(config)
    loaded = store.refresh_online(end=NOW + timedelta(seconds=1))
    assert not loaded.rebuilt
    upcoming = games[games["status"] == "scheduled"]
    assert (
        upcoming["home_team"].value_counts().max() > 1 or upcoming["away_team"].duplicated().any()
    )
    context = context_of(config, games)
    watermark = store.watermark()
    # The recorded watermark (what `status` reads without Feast) is Feast's own.
    recorded = json.loads(state_paths(config).online_watermark.read_text())
    assert datetime.fromisoformat(recorded["end"]) == watermark
    online = store.online_features(upcoming, context, now=NOW)
    offline = store.training_set(upcoming, context)
    columns = [c for c in offline.columns if "__" in c]
    pd.testing.assert_frame_equal(online[columns], offline[columns], check_dtype=False)
    assert online["feature_time_matches_game"].all() and not online["stale"].any()
    assert store.watermark() == watermark  # reading moved nothing
    # The fallback when the online store is down serves exactly the same, checks included.
    fallback = store.offline_features(upcoming, context, now=NOW)
    pd.testing.assert_frame_equal(fallback, online, check_dtype=False)


def test_stale_values_are_flagged_and_unknown_teams_refused(config: GamelineConfig) -> None:
    games = ingested(config)
    store = applied(config)
    store.refresh_online(end=NOW)
    upcoming = games[games["status"] == "scheduled"].head(2)
    context = context_of(config, games)
    later = NOW + timedelta(days=config.feast.ttl_days + 30)
    assert store.online_features(upcoming, context, now=later)["stale"].all()
    assert not store.online_features(upcoming, context, now=NOW)["stale"].any()
    unknown = upcoming.assign(away_team="NOPE")
    with pytest.raises(FeatureStoreError, match="NOPE"):
        store.online_features(unknown, context, now=NOW)


def test_a_late_result_is_caught_by_the_check_and_repaired(config: GamelineConfig) -> None:
    """A team's latest state changing its values but not its time (a result that arrived
    after a later game of the team) is not left stale online."""
    ingested(config)
    store = applied(config)
    store.refresh_online(end=NOW)
    path = state_paths(config).team_states
    states = pd.read_parquet(path)
    latest = states["event_timestamp"].idxmax()
    team = str(states.loc[latest, "team"])
    states.loc[latest, "elo_post"] += 50.0
    states.to_parquet(path, index=False)
    again = store.refresh_online(end=NOW)
    assert store.online_is_current(NOW)
    _, values = store.reader().read([team])[0]
    assert values[store.states.index("elo_post")] == pytest.approx(states.loc[latest, "elo_post"])
    assert again.watermark_before == NOW


def test_watermark_survives_a_re_apply(config: GamelineConfig) -> None:
    ingested(config)
    first = applied(config).refresh_online(end=NOW)
    assert first.watermark_before is None
    second = applied(config).refresh_online(end=NOW + timedelta(days=1))
    assert second.watermark_before == NOW


def test_online_reader_serves_what_feast_serves(config: GamelineConfig) -> None:
    games = ingested(config)
    adapter = applied(config)
    adapter.refresh_online(end=NOW)
    game = games[games["status"] == "scheduled"].iloc[0]
    ours = adapter.reader().game(game["home_team"], game["away_team"])
    store = adapter.store
    feast = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        full_feature_names=True,
        entity_rows=[{"home_team": game["home_team"], "away_team": game["away_team"]}],
    ).to_dict()
    for side in ("home", "away"):
        for name in adapter.states:
            assert ours[f"{side}__{name}"] == pytest.approx(
                feast[f"{side}__{name}"][0], nan_ok=True
            )
    assert ours["home_feature_ts"] <= NOW


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
