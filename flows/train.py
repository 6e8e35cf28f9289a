"""Train flow: Feast training set -> walk-forward folds (concurrent) -> final model -> MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from gameline.flows.ingest import IO_RETRIES
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.data.ingest import code_version, content_hash, read_store
from gameline.tasks.features.store import (
    FEATURE_SERVICE,
    apply_definitions,
    open_store,
    registry_version,
    training_set,
)
from gameline.tasks.features.team import feature_columns
from gameline.tasks.model.train import (
    Fold,
    fit_models,
    fold_frames,
    model_features,
    oof_columns,
    predict_models,
    season_folds,
)
from gameline.tasks.registry.tracking import (
    TrainingRecord,
    log_training,
    model_example,
    recipe_tags,
)
from gameline.tasks.storage import write_parquet


@task(name="training-set", **IO_RETRIES)
def build_training_set(config: GamelineConfig) -> tuple[Path, dict[str, str]]:
    """Write the point-in-time training set of every finished game; return it and its tags."""
    games = read_store(state_paths(config).raw_games)
    store = open_store(config)
    apply_definitions(config, store)
    frame = training_set(config, games, store=store)
    path = write_parquet(frame, state_paths(config).root / "training" / "training_set.parquet")
    tags = {
        "dataset_hash": content_hash(games),
        "manifest_ids": ",".join(sorted(games["manifest_id"].dropna().astype(str).unique())),
        "feature_service": FEATURE_SERVICE,
        "features": ",".join(model_features(feature_columns(config.features), config.train)),
        "code_version": code_version(),
        "config": config.name,
        **registry_version(config, store),
    }
    return path, tags


@task(name="fold")
def run_fold(config: GamelineConfig, path: Path, fold: Fold) -> pd.DataFrame:
    """Fit one fold on the seasons before its test season; predict the test season."""
    frame = pd.read_parquet(path)
    played = frame[frame[LABEL].notna()]
    features = model_features(feature_columns(config.features), config.train)
    train, test = fold_frames(played, fold)
    models = fit_models(train, features, config.train)
    return pd.concat([oof_columns(test, fold), predict_models(models, test, features)], axis=1)


@task(name="log-and-register", **IO_RETRIES)
def log_and_register(
    config: GamelineConfig, path: Path, oof: pd.DataFrame, tags: dict[str, str]
) -> TrainingRecord:
    """Fit the final model on every finished game, log everything, register the challenger."""
    frame = pd.read_parquet(path)
    played = frame[frame[LABEL].notna()]
    features = model_features(feature_columns(config.features), config.train)
    final = fit_models(played, features, config.train)
    return log_training(
        config,
        oof,
        final,
        features,
        model_example(played.tail(200), features),
        tags,
        recipe_tags(config, played),
    )


def task_runner(config: GamelineConfig) -> TaskRunner[Any]:
    """The configured runner for concurrent folds: threads, or a Dask cluster (prefect-dask);
    with no address, a temporary local cluster of `workers` processes."""
    runner = config.runner
    if runner.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": runner.workers, "threads_per_worker": 1})
    return ThreadPoolTaskRunner(max_workers=runner.workers)


@flow(name="walk-forward-folds")
def folds_flow(config: GamelineConfig, path: Path, folds: list[Fold]) -> pd.DataFrame:
    """Every fold at once on the configured task runner; their out-of-fold predictions."""
    futures = [run_fold.submit(config, path, fold) for fold in folds]
    return pd.concat([f.result() for f in futures], ignore_index=True)


@flow(name="train")
def train_flow(config: GamelineConfig) -> TrainingRecord:
    """Walk-forward training by season on the Feast training set, tracked in MLflow.

    The folds run in a subflow whose task runner comes from the config, so a deployment
    switches between threads and a Dask cluster without code changes."""
    path, tags = build_training_set(config)
    played = pd.read_parquet(path, columns=["season", "event_timestamp", LABEL]).dropna()
    seasons = played["season"].to_numpy()
    folds = season_folds(seasons, config.train, played["event_timestamp"])
    if not folds:
        raise ValueError(
            f"no walk-forward fold: {len(set(seasons))} finished seasons, "
            f"min_train_seasons={config.train.min_train_seasons}"
        )
    oof = folds_flow.with_options(task_runner=task_runner(config))(config, path, folds)
    return log_and_register(config, path, oof, tags)
