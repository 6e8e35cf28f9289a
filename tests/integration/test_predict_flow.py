"""The predict flow for real: champion and shadow challenger from the MLflow registry, online
features from Feast, the predictions table; the same probabilities as the offline rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gameline.flows.cli import app
from gameline.flows.gate import gate_flow
from gameline.flows.ingest import feature_store_flow
from gameline.flows.predict import predict_flow, served_model
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.features.store import FeatureStoreError, TeamFeatureStore
from gameline.tasks.features.team import game_context
from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, PromotionError
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predict import upcoming_games
from gameline.tasks.serving.predictions import read_predictions
from tests.conftest import AS_OF, fatigue_league, with_changes, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
NOW = AS_OF + timedelta(hours=1)


@pytest.fixture
def league(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    """A week of upcoming games, so teams play more than once inside a 72-hour horizon."""
    return fatigue_league(sim_config, simulator={"upcoming_days": 7}, predict={"horizon_hours": 72})


def test_no_champion_no_predictions(league: GamelineConfig) -> None:
    with pytest.raises(PromotionError, match="no champion yet"):
        predict_flow(league, NOW)


def test_champion_serves_and_challenger_shadows_with_the_offline_values(
    league: GamelineConfig, tmp_path: Path
) -> None:
    train_flow(league)
    assert gate_flow(league).applied == "promoted"
    challenger = train_flow(with_changes(league, train={"logistic_c": 0.001}))
    with pytest.raises(FeatureStoreError, match="online store is not loaded"):
        predict_flow(league, NOW)  # ingested without Feast: nothing online to serve from
    feature_store_flow(league)  # `gameline features`: the one writer of the online store
    summary = predict_flow(league, NOW)

    games = read_store(state_paths(league).raw_games)
    upcoming = upcoming_games(games, NOW, 72)
    assert summary.games == len(upcoming) > 0
    playing = pd.concat([upcoming["home_team"], upcoming["away_team"]])
    assert playing.value_counts().max() > 1  # teams play twice in the horizon: one read serves all
    table = read_predictions(state_paths(league).predictions)
    assert table["game_id"].tolist() == upcoming["game_id"].astype(str).tolist()
    assert table["features_match_game"].all() and not table["features_stale"].any()
    assert (table["served_by"] == "champion").all()
    np.testing.assert_array_equal(table["p_home"], table["p_champion"])
    assert (table["challenger_version"] == challenger.model_version).all()
    assert table["p_challenger"].notna().all()
    assert not np.allclose(table["p_challenger"], table["p_champion"])
    assert (table["results_age_h"] > 0).all()

    # Train/serve consistency: the online path gives what the offline training rows give.
    context = game_context(games, league.features, league.league)
    offline = TeamFeatureStore.from_config(league).training_set(upcoming, context)
    registry = Registry.from_config(league)
    for alias, column in ((CHAMPION, "p_champion"), (CHALLENGER, "p_challenger")):
        model = served_model(registry, alias)
        assert model is not None
        np.testing.assert_allclose(model.predict(offline), table[column], rtol=1e-9)

    # A/B: with a share of 1 the challenger serves every game; the table keeps both runs.
    everyone = with_changes(league, predict={"challenger_share": 1.0})
    predict_flow(everyone, NOW)
    both = read_predictions(state_paths(league).predictions)
    assert len(both) == 2 * len(upcoming)
    last = both.tail(len(upcoming))
    assert (last["served_by"] == "challenger").all()
    np.testing.assert_array_equal(last["p_home"], last["p_challenger"])

    path = write_config(league, tmp_path / "league.yaml")
    status = CliRunner().invoke(app, ["status", "--config", str(path), "--json"])
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert [m["alias"] for m in report["models"]] == ["champion", "challenger"]
    # Read from the snapshot the last train recorded (no MLflow client), equal to MLflow's own.
    assert report["registry_recorded_at"] is not None
    live = CliRunner().invoke(app, ["status", "--config", str(path), "--json", "--live"])
    assert json.loads(live.stdout)["models"] == report["models"]
    assert json.loads(live.stdout)["registry_recorded_at"] is None
    assert report["last_decision"]["promote"] is True
    assert len(report["predictions"]) == min(10, len(upcoming))
    assert report["freshness"]["scheduled"] > 0 and report["alerts"] == []
    printed = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert printed.exit_code == 0 and "Latest predictions" in printed.stdout
    pd.testing.assert_series_equal(
        pd.Series([p["game_id"] for p in report["predictions"]]),
        pd.Series(upcoming["game_id"].astype(str).tail(10).tolist()),
    )
