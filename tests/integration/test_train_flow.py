"""The train flow for real: Feast training set, concurrent folds, MLflow runs, registry alias."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect import tags

from gameline.flows.common import CONSOLE_PROGRESS, subflows
from gameline.flows.gate import gate_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.features.team import feature_columns
from gameline.tasks.model.inputs import model_example
from gameline.tasks.model.train import fit_models, predict_models
from gameline.tasks.registry.mlflow_registry import Registry
from tests.builders import ingested, write_config
from tests.servers import BIN, free_port, process, quiet_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def league(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    config = sim_config(
        source={"simulator": {"n_teams": 10, "n_seasons": 4, "games_per_team": 40}},
        train={"min_train_seasons": 2, "lightgbm": {"min_child_samples": 20}},
    )
    ingested(config)
    return config


def test_train_flow_logs_folds_and_registers_a_loadable_challenger(league: GamelineConfig) -> None:
    heard: list[tuple[str, int, int]] = []
    CONSOLE_PROGRESS.append(lambda *step: heard.append(step))  # as a command's progress bar
    # As the daily and retrain flows call it: in a block of run tags.
    wanted = {"gameline", f"config:{league.name}", f"trigger:{uuid.uuid4().hex[:8]}"}
    try:
        with tags(*wanted), subflows():
            record = train_flow(league)
            gate_flow(league)
    finally:
        CONSOLE_PROGRESS.clear()
    assert_runs_tagged_tasks_not(wanted)
    assert record.folds == 2 and record.alias == "challenger"
    assert heard == [("walk-forward folds", done, 2) for done in range(3)]
    assert record.metrics["blend_log_loss"] < record.metrics["home_rate_log_loss"]
    client = Registry.from_config(league).client
    parent = client.get_run(record.run_id)
    assert parent.data.tags["feature_service"] == "game_features_v2"
    assert len(parent.data.tags["dataset_hash"]) == 64
    assert len(parent.data.tags["feast_definitions_sha256"]) == 64
    assert parent.data.tags["feast_view_version"] == "v0"
    metrics = parent.data.metrics
    # Simulated moneylines exist: the market, the market variant and the betting rule are logged.
    assert metrics["priced_games"] > 0 and "with_market_log_loss_priced" in metrics
    assert metrics["market_log_loss"] < metrics["home_rate_log_loss"]
    family = league.mlflow.final_family
    assert {f"{family}_bet_roi", f"{family}_bet_max_drawdown", "with_market_bet_count"} <= set(
        metrics
    )
    assert f"{family}_log_loss__stage_regular" in metrics
    # The logged log loss is the natural-log loss of the out-of-fold predictions, by hand.
    oof = pd.read_parquet(
        Registry.from_config(league).download(record.run_id, "oof_predictions.parquet")
    )
    pairs = zip(oof[LABEL], oof[f"p_{family}"], strict=True)
    by_hand = -sum(math.log(p) if y == 1 else math.log(1 - p) for y, p in pairs) / len(oof)
    assert metrics[f"{family}_log_loss"] == pytest.approx(by_hand, rel=1e-9)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{record.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == ["fold-2026", "fold-2027"]
    artifacts = {a.path for a in client.list_artifacts(record.run_id)}
    assert {
        "oof_predictions.parquet",
        "calibration.png",
        "metric_by_fold.png",
        "feature_importance.png",
        "segments.csv",
        "calibration_cover.png",
        "calibration_over.png",
        "line_scores_by_season.csv",
        "line_segments.csv",
    } <= artifacts
    # The margin and total: scored at the simulated lines, pushes left out, next to a coin.
    lines = record.targets
    assert set(lines) == {"winner", "cover", "over"}
    assert lines["winner"]["log_loss"] == metrics[f"{family}_log_loss"]
    labelled = oof["home_score"] - oof["away_score"] + oof["home_spread"]
    assert lines["cover"]["games"] == (labelled != 0).sum() == metrics["cover_games"]
    assert metrics["cover_pushes"] == (labelled == 0).sum()
    for side in ("cover", "over"):
        assert abs(lines[side]["log_loss"] - math.log(2)) < 0.02  # sharp lines: near a coin
        assert lines[side]["ece"] < 0.1
    assert "at the lines" in record.facts().line
    # The simulator posts opening lines too: bets at the open measured against the close.
    assert metrics["cover_both_lines_games"] == metrics["cover_games"] + metrics["cover_pushes"]
    bets = metrics[f"over_{record.line_family}_clv_bets"]
    assert bets == 0 or math.isfinite(metrics[f"over_{record.line_family}_clv_points"])
    segments = pd.read_csv(
        Registry.from_config(league).download(record.run_id, "line_segments.csv")
    )
    sides = segments[segments["segment"] == "home_side"]
    assert set(sides["value"]) <= {"favourite", "underdog", "pick", "no line"}
    by_side = sides[sides["side"] == "cover"]["games"].sum()
    assert by_side == metrics["cover_games"]  # every judged game in exactly one segment
    version = client.get_model_version_by_alias(record.model_name, "challenger")
    assert str(version.version) == record.model_version
    # What the MLflow UI shows: a run named by config, data and trigger; the training data as a
    # dataset input; the commit; the registered family's scores in the run's and version's text.
    assert parent.info.run_name.startswith("default-20")
    assert parent.info.run_name.endswith("-manual")
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.name.startswith("training_set-")
    assert dataset.dataset.digest in dataset.dataset.name
    assert "mlflow.source.git.commit" in parent.data.tags
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    note = parent.data.tags["mlflow.note.content"]
    assert f"log loss {metrics[f'{family}_log_loss']:.4f}" in note and "Trained on" in note
    assert version.description.startswith("Trained on") and record.run_id in version.description
    # Native LightGBM file plus JSON recipe; nothing pickled.
    stored = list((state_paths(league).mlflow / "artifacts").rglob("*"))
    assert any(p.name == "model.lgb" for p in stored)
    assert not any(p.suffix in (".pkl", ".pickle") for p in stored)


def test_cli_lists_and_compares_runs(league: GamelineConfig, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gameline.flows.cli import app

    first = train_flow(league)
    second = train_flow(
        league.model_copy(update={"train": league.train.model_copy(update={"logistic_c": 1.0})})
    )
    path = write_config(league, tmp_path / "league.yaml")
    ranked = CliRunner().invoke(app, ["runs", "--best", "blend_log_loss", "--config", str(path)])
    assert ranked.exit_code == 0, ranked.output
    assert first.run_id in ranked.stdout and second.run_id in ranked.stdout
    both = CliRunner().invoke(app, ["compare", first.run_id, second.run_id, "--config", str(path)])
    assert both.exit_code == 0, both.output
    assert "train.logistic_c" in both.stdout and "0.05" in both.stdout
    unknown = CliRunner().invoke(app, ["runs", "--best", "nope", "--config", str(path)])
    assert unknown.exit_code == 1 and "no run has metric 'nope'" in unknown.stderr


def test_registered_model_predicts_like_the_training_code(league: GamelineConfig) -> None:
    record = train_flow(league)
    (path,) = state_paths(league).training.glob("training_set-*.parquet")  # named by content
    frame = pd.read_parquet(path)
    played = frame[frame[LABEL].notna()]
    features = feature_columns(league.features)
    rows = model_example(played.tail(50), features)
    loaded = Registry.from_config(league).load_version(record.model_version)
    expected = predict_models(
        fit_models(played, features, league.train), played.tail(50).reset_index(drop=True), features
    )[f"p_{league.mlflow.final_family}"]
    np.testing.assert_allclose(np.asarray(loaded.predict(rows)), expected.to_numpy(), rtol=1e-9)
    assert record.model_version == "1"
    # Nothing pickled: a JSON recipe, LightGBM's own text format, and the code that reads them.
    import mlflow

    registry = Registry.from_config(league)
    with registry._active():
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{registry.model_name}/1"))
    files = [p for p in local.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".pkl", ".pickle", ".joblib", ".cloudpickle")]
    mlmodel = (local / "MLmodel").read_text()
    assert "model_code_path" in mlmodel and "python_model.pkl" not in mlmodel  # models from code
    assert any(p.name == "recipe.json" for p in files)
    for booster in (p for p in files if p.suffix == ".lgb"):
        assert booster.read_text().startswith("tree\nversion=")


def test_folds_run_on_a_dask_cluster_given_its_address(
    league: GamelineConfig, tmp_path: Path
) -> None:
    """runner.kind=dask with an address: the fold tasks run on that cluster's workers and give
    the same out-of-fold scores as the thread runner. The cluster is as a user starts one: a
    `dask scheduler` and two `dask worker` processes of their own (not an in-process cluster)."""
    from distributed import Client, get_task_stream

    threads = train_flow(league)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"]  # fmt: skip
    worker = [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"]
    env = quiet_env()
    with (
        process(scheduler, env, tmp_path / "scheduler.log"),
        process(worker, env, tmp_path / "worker-1.log"),
        process(worker, env, tmp_path / "worker-2.log"),
        Client(address, timeout=60) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        runner = league.runner.model_copy(update={"kind": "dask", "dask_address": address})
        config = league.model_copy(update={"runner": runner})
        with get_task_stream(client) as stream:
            on_dask = train_flow(config)
        ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    fold_tasks = [t for t in stream.data if "fold" in str(t["key"])]
    assert len(fold_tasks) == on_dask.folds == 2
    assert {t["worker"] for t in fold_tasks} <= set(ran)  # on the two worker processes
    assert len(ran) == 2 and sum(ran.values()) >= 2, ran
    assert on_dask.metrics["blend_log_loss"] == pytest.approx(threads.metrics["blend_log_loss"])


def assert_runs_tagged_tasks_not(wanted: set[str]) -> None:
    """The train, folds and gate runs carry the run tags, their task runs none: a tagged task
    run asks the API for the tags' concurrency limits before it starts, which a Prefect server
    on SQLite can answer with a 503 and the client waits 2 s."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200) if wanted <= set(r.tags)]
        assert sorted(r.name.split("-")[0] for r in runs) == ["folds", "gate", "train"]
        filters = FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs]))
        task_runs = client.read_task_runs(flow_run_filter=filters, limit=200)
    names = {t.name.rsplit("-", 1)[0] for t in task_runs}
    assert {"tidy-registry", "training-set", "log-and-register", "gate-apply"} <= names, names
    assert any(t.name.startswith("fold-") for t in task_runs)
    # Only Prefect's record of the folds subflow's call in the train run (it asks for no slot).
    assert [t.name.rsplit("-", 1)[0] for t in task_runs if t.tags] == ["walk-forward-folds"]
