"""A replay in MLflow: one run per replay (window, settings, the tables, the plot, the served
predictions) with a nested run per policy (its scores, retrains, promotions, alerts), in an
experiment of its own (`<experiment>-replay`), so the config's training runs stay apart."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from gameline.tasks.config import GamelineConfig
from gameline.tasks.model.inputs import model_example
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.tracking import log_final_model
from gameline.tasks.replay.run import ReplayResult


def replay_registry(config: GamelineConfig) -> Registry:
    """The config's tracking store, with the replay experiment and model names."""
    base = config.mlflow.experiment or f"gameline-{config.name}"
    model = config.mlflow.model_name or f"gameline-{config.name}"
    mlflow = config.mlflow.model_copy(
        update={"experiment": f"{base}-replay", "model_name": f"{model}-replay"}
    )
    return Registry.from_config(config.model_copy(update={"mlflow": mlflow}))


def log_replay(
    registry: Registry,
    config: GamelineConfig,
    result: ReplayResult,
    policies: pd.DataFrame,
    files: list[Path],
    settings: dict[str, str],
) -> str:
    """Log the replay, and register its initial model (what `never` served, the starting
    champion of every policy) as a version of `<model>-replay`; returns the parent run's id."""
    name = f"replay-{config.name}-{result.start:%Y%m%d}-{result.end:%Y%m%d}"
    with registry.run(name) as run_id:
        registry.log(
            params={"config": config.name, "from": str(result.start), "to": str(result.end),
                    **settings},
            metrics={"seconds": sum(result.seconds.values())},
        )  # fmt: skip
        for path in files:
            registry.log_file(path)
        initial = result.initial
        recipe = initial.recipe
        with tempfile.TemporaryDirectory() as tmp:
            version = log_final_model(
                registry,
                initial.models,
                recipe.features,
                recipe.family,
                model_example(result.features.head(200), recipe.features),
                Path(tmp),
            )
        registry.set_version_tags(
            version,
            {
                "run_id": run_id,
                "replay_policy": "never",
                "trained_until": str(recipe.trained_until),
            },
        )
        registry.log(tags={"initial_model_version": version})
        for row in policies.itertuples():
            policy = str(row.policy)
            run = next((r for r in result.runs if r.policy == policy), None)
            if run is None:
                continue
            with registry.run(f"policy-{policy}", nested=True):
                registry.log(
                    params={"policy": policy},
                    metrics={
                        "served_log_loss": float(row.log_loss),
                        "served_brier": float(row.brier),
                        "served_ece": float(row.ece),
                        "games": float(row.games),
                        "retrains": float(row.retrains),
                        "promotions": float(row.promotions),
                        "alerts": float(row.alerts),
                    },
                )
    return run_id
