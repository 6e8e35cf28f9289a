"""Train flow: Feast training set -> walk-forward folds (concurrent) -> final model -> MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect import tags as prefect_tags
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from gameline.flows.common import (
    ADAPTER_TASK,
    IO_RETRIES,
    ConfigRef,
    current_tags,
    heal_task,
    log_stage,
    report_progress,
    resolve,
    run_logger,
    run_name,
    snapshot_task,
    subflows,
    untagged_tasks,
)
from gameline.tasks.config import GamelineConfig, RunnerConfig, TrainConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.dataset import build_training_set
from gameline.tasks.model.folds import Fold, fold_frames, oof_columns, season_folds
from gameline.tasks.model.inputs import model_example, selected_features
from gameline.tasks.model.train import fit_models, predict_models
from gameline.tasks.model.worth import WorthReport, source_worth
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.tracking import (
    TrainingRecord,
    log_training,
    recipe_tags,
    tidy_registry,
)

training_set_task = task(build_training_set, name="training-set", **IO_RETRIES)


@task(name="fold", task_run_name="fold-{fold.test_season}-block-{fold.block}")
def run_fold(train_cfg: TrainConfig, features: list[str], path: Path, fold: Fold) -> pd.DataFrame:
    """Fit one fold on the seasons before its test season; predict the test season."""
    frame = pd.read_parquet(path)
    played = frame[frame[LABEL].notna()]
    train, test = fold_frames(played, fold)
    models = fit_models(train, features, train_cfg)
    return pd.concat([oof_columns(test, fold), predict_models(models, test, features)], axis=1)


# Idempotent: safe to retry.
@task(name="tidy-registry", **IO_RETRIES, **ADAPTER_TASK)
def tidy_task(registry: Registry) -> tuple[list[str], list[str]]:
    """Close the runs a killed training left RUNNING; mark versions registered without their
    recipe as incomplete."""
    closed, incomplete = tidy_registry(registry)
    if closed or incomplete:
        run_logger().warning(
            "after a training cut short: runs %s marked FAILED, versions %s marked incomplete",
            closed,
            incomplete,
        )
    return closed, incomplete


# No retries: a retry after the registration would register a second version.
@task(name="log-and-register", **ADAPTER_TASK)
def log_and_register(
    registry: Registry,
    config: GamelineConfig,
    path: Path,
    oof: pd.DataFrame,
    tags: dict[str, str],
) -> TrainingRecord:
    """Fit the final model on every finished game, log everything, register the challenger."""
    frame = pd.read_parquet(path)
    played = frame[frame[LABEL].notna()]
    features = selected_features(config)
    final = fit_models(played, features, config.train)
    return log_training(
        registry,
        config,
        oof,
        final,
        features,
        model_example(played.tail(200), features),
        tags,
        recipe_tags(config, played, features),
        played,
        path,
    )


def task_runner(runner: RunnerConfig) -> TaskRunner[Any]:
    """The configured runner for concurrent folds: threads, or a Dask cluster (prefect-dask);
    with no address, a temporary local cluster of `workers` processes."""
    if runner.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": runner.workers, "threads_per_worker": 1})
    return ThreadPoolTaskRunner(max_workers=runner.workers)


@flow(name="walk-forward-folds", flow_run_name="folds-{path.stem}")
def folds_flow(
    train_cfg: TrainConfig, features: list[str], path: Path, folds: list[Fold]
) -> pd.DataFrame:
    """Every fold at once on the configured task runner; their out-of-fold predictions. A
    progress artifact on the run (Prefect UI) says how many folds have finished, as does the
    command's progress bar when one runs it."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    from prefect.futures import as_completed

    with untagged_tasks():
        futures = [run_fold.submit(train_cfg, features, path, fold) for fold in folds]
    progress = create_progress_artifact(0.0, description=f"walk-forward folds: 0 of {len(folds)}")
    report_progress("walk-forward folds", 0, len(folds))
    for done, _ in enumerate(as_completed(futures), start=1):
        update_progress_artifact(
            progress, 100.0 * done / len(folds), f"walk-forward folds: {done} of {len(folds)}"
        )
        report_progress("walk-forward folds", done, len(folds))
    return pd.concat([f.result() for f in futures], ignore_index=True)


@flow(name="train", flow_run_name=run_name("train"))
def train_flow(config: ConfigRef, reason: dict[str, str] | None = None) -> TrainingRecord:
    """Walk-forward training by season on the Feast training set, tracked in MLflow; `reason`
    (why it runs: the retrain trigger) goes into the run's tags.

    The folds run in a subflow whose task runner comes from the config, so a deployment
    switches between threads and a Dask cluster without code changes."""
    run_tags = current_tags()  # the folds' run is tagged as this one is
    with untagged_tasks():
        config = resolve(config, "train")
        registry = Registry.from_config(config)
        tidy_task(registry)
        heal_task(config)
        path, tags = training_set_task(config)
        tags = {**tags, **(reason or {})}
        played = pd.read_parquet(path, columns=["season", "event_timestamp", LABEL]).dropna()
        seasons = played["season"].to_numpy()
        folds = season_folds(seasons, config.train, played["event_timestamp"])
        if not folds:
            raise ValueError(
                f"no walk-forward fold: {len(set(seasons))} finished seasons, "
                f"min_train_seasons={config.train.min_train_seasons}"
            )
        folds_run = folds_flow.with_options(task_runner=task_runner(config.runner))
        with prefect_tags(*run_tags), subflows():
            oof = folds_run(config.train, selected_features(config), path, folds)
        record = log_and_register(registry, config, path, oof, tags)
        snapshot_task(registry, config)
    log_stage(record.facts().line)
    return record


worth_task = task(source_worth, name="source-worth")


@flow(name="feature-worth", flow_run_name=run_name("feature-worth"))
def feature_worth_flow(config: ConfigRef) -> WorthReport:
    """What each feature source is worth: walk-forward with and without it on the same games
    (nothing is registered: a source reaches production only through the gate)."""
    config = resolve(config, "feature-worth")
    if not config.features.sources:
        raise ValueError(
            f"config {config.name!r} declares no feature sources (features.sources): nothing "
            "to weigh"
        )
    heal_task(config)
    path, _ = training_set_task(config)
    report: WorthReport = worth_task(pd.read_parquet(path), selected_features(config), config)
    log_stage(report.facts().line)
    return report
