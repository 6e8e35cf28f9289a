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
from gameline.tasks.features.context import game_context
from gameline.tasks.features.store import FeatureStoreError, TeamFeatureStore
from gameline.tasks.model.dataset import build_training_set
from gameline.tasks.model.inputs import model_inputs
from gameline.tasks.model.targets import price_lines
from gameline.tasks.model.train import predict_lightgbm
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, PromotionError
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predict import score_games, upcoming_games
from gameline.tasks.serving.predictions import read_predictions
from tests.builders import AS_OF, fatigue_league, with_changes, write_config


def pyfunc_input(registry: Registry, version: str, rows: pd.DataFrame) -> pd.DataFrame:
    """A registered version's input written out column by column from its tagged features:
    every home feature, every away feature, then the neutral flag."""
    features = registry.version_tags(version)["features"].split(",")
    columns = [f"home__{f}" for f in features] + [f"away__{f}" for f in features]
    frame = rows[columns].astype("float64").reset_index(drop=True)
    frame["neutral"] = rows["neutral"].to_numpy(dtype=bool)
    return frame


def strongest_and_weakest(games: pd.DataFrame) -> tuple[str, str]:
    """The teams with the best and the worst share of wins in the last finished season."""
    finals = games[games["status"] == "final"]
    last = finals[finals["season"] == finals["season"].max()]
    home_won = last["home_score"] > last["away_score"]
    wins = pd.concat([last["home_team"][home_won], last["away_team"][~home_won]]).value_counts()
    played = pd.concat([last["home_team"], last["away_team"]]).value_counts()
    share = (wins.reindex(played.index, fill_value=0) / played).sort_values()
    return str(share.index[-1]), str(share.index[0])


def reverse_fixtures(games: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Two new scheduled games a week after the schedule ends, at the same time: `first` at
    home to `second`, then the reverse."""
    template = games[games["status"] == "scheduled"].tail(1)
    start = games["start_time"].max() + pd.Timedelta(days=7)
    rows = pd.concat([template, template], ignore_index=True)
    rows["game_id"] = ["fixture-1", "fixture-2"]
    rows["home_team"], rows["away_team"] = [first, second], [second, first]
    rows["start_time"] = start
    rows["neutral"] = False
    return rows


pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
NOW = AS_OF + timedelta(hours=1)


@pytest.fixture
def league(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    """A week of upcoming games, so teams play more than once inside a 72-hour horizon."""
    return fatigue_league(
        sim_config, full=True, simulator={"upcoming_days": 7}, predict={"horizon_hours": 72}
    )


def test_no_champion_no_predictions(league: GamelineConfig) -> None:
    with pytest.raises(PromotionError, match="no champion yet"):
        predict_flow(league, NOW)


def test_served_probabilities_match_an_oracle_reach_calibration_and_favour_the_strong_home_side(
    league: GamelineConfig, tmp_path: Path
) -> None:
    # The champion serves the blend (LightGBM's calibrated probability with the logistic
    # model's); the challenger is logistic.
    champion = train_flow(with_changes(league, mlflow={"final_family": "blend"}))
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
    table = read_predictions(records_for(league))
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

    # An independent oracle: the training set (built by the train flow's code) holds the same
    # games; each registered pyfunc, given those rows column by column (not through the serving
    # code), gives exactly what was served.
    path, _ = build_training_set(league)
    trained_rows = pd.read_parquet(path).set_index("game_id").loc[table["game_id"]]
    for version, column in (
        (champion.model_version, "p_champion"),
        (challenger.model_version, "p_challenger"),
    ):
        np.testing.assert_allclose(
            registry.load_version(version).predict(pyfunc_input(registry, version, trained_rows)),
            table[column],
            rtol=1e-9,
        )

    # Calibration reaches serving: the champion's probability blends LightGBM's raw
    # probability passed through the calibration registered with it (which moves it) with the
    # logistic model's.
    fitted = registry.load_version(champion.model_version).unwrap_python_model().models
    features = registry.version_tags(champion.model_version)["features"].split(",")
    inputs = model_inputs(pyfunc_input(registry, champion.model_version, trained_rows), features)
    raw = predict_lightgbm(fitted.lightgbm, inputs)
    calibrated = fitted.calibration.apply(raw)
    w = fitted.blend_weight
    blend = w * calibrated + (1 - w) * fitted.logistic.predict(inputs)
    np.testing.assert_allclose(table["p_champion"], blend, rtol=1e-9)
    assert w > 0 and np.abs(w * (calibrated - raw)).max() > 0.005

    # The spread and the total: every upcoming game priced at its posted lines by the served
    # model's margin and total models, as those models price the training set's rows.
    priced = table[["p_cover", "p_over", "fair_spread", "fair_total"]]
    assert priced.notna().all().all() and priced[["p_cover", "p_over"]].gt(0).all().all()
    np.testing.assert_allclose(table["home_spread"], upcoming["home_spread"].astype(float))
    assert fitted.lines is not None
    oracle = price_lines(fitted.lines, trained_rows.reset_index(), features, "blend")
    for column in ("p_cover", "p_push_spread", "p_over", "fair_spread", "fair_total"):
        np.testing.assert_allclose(table[column], oracle[column], rtol=1e-9)
    # A home side the model makes a bigger favourite than the line is more likely to cover.
    assert ((table["p_cover"] > 0.5) == (table["fair_spread"] < table["home_spread"])).all()

    # The strongest team at home is served a higher probability than in the reverse fixture,
    # by the champion and by the challenger in shadow.
    strong, weak = strongest_and_weakest(games)
    fixtures = reverse_fixtures(games, strong, weak)
    both_ways = pd.concat([games, fixtures], ignore_index=True)
    scored = score_games(
        TeamFeatureStore.from_config(league),
        fixtures,
        game_context(both_ways, league.features, league.league),
        NOW,
        served_model(registry, CHAMPION),
        served_model(registry, CHALLENGER),
    )
    for column in ("p_champion", "p_challenger"):
        home_strong, home_weak = scored[column]
        assert home_strong > 0.5 > home_weak, (column, strong, weak, home_strong, home_weak)

    # A/B: with a share of 1 the challenger serves every game; the table keeps both runs.
    everyone = with_changes(league, predict={"challenger_share": 1.0})
    predict_flow(everyone, NOW)
    both = read_predictions(records_for(league))
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
