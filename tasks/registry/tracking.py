"""MLflow tracking and registry: a parent run per training, a nested run per fold, the final
model registered as a pyfunc over LightGBM's native model (no pickle), alias `challenger`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.features.team import feature_columns
from gameline.tasks.model.metrics import (
    betting_metrics,
    family_scores,
    prediction_columns,
    reliability_curve,
    scores_by,
    segment_table,
)
from gameline.tasks.model.train import FoldModels, model_features

CHALLENGER = "challenger"
MODEL_CODE = Path(__file__).parents[1] / "model" / "pyfunc.py"
PIP_REQUIREMENTS = [
    "lightgbm==4.7.0",
    "pandas==2.3.3",
    "scikit-learn==1.9.1",
    "numpy",
    "pydantic>=2.7",
    "pyyaml>=6",
    "mlflow==3.17.2",
]


def tracking_uri(config: GamelineConfig) -> str:
    """The configured tracking URI, else a SQLite store in the state folder."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    folder = state_paths(config).mlflow.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def experiment_name(config: GamelineConfig) -> str:
    return config.mlflow.experiment or f"gameline-{config.name}"


def model_name(config: GamelineConfig) -> str:
    return config.mlflow.model_name or f"gameline-{config.name}"


def use_experiment(config: GamelineConfig) -> str:
    """Point MLflow at this config's store and experiment (a new experiment keeps its
    artifacts at `mlflow.artifact_location`, else in the state folder); returns its id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(config))
    name = experiment_name(config)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        mlflow.set_experiment(name)
        return str(found.experiment_id)
    location = config.mlflow.artifact_location or (
        (state_paths(config).mlflow.resolve() / "artifacts").as_uri()
    )
    experiment_id = mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return str(experiment_id)


class TrainingRecord(BaseModel):
    """What a training run logged and registered."""

    run_id: str
    experiment: str
    model_name: str
    model_version: str
    alias: str
    metrics: dict[str, float]
    folds: int


def _plots(oof: pd.DataFrame, family: str, booster: str | None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {}
    curve = reliability_curve(oof[LABEL].to_numpy(), oof[f"p_{family}"].to_numpy())
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--")
    ax.plot(curve["p_mean"], curve["y_rate"], marker="o")
    ax.set(
        xlabel="predicted P(home win)",
        ylabel="observed home win rate",
        title=f"calibration ({family}, out of fold)",
    )
    figures["calibration.png"] = fig
    by_fold = scores_by(oof, "season")
    fig, ax = plt.subplots(figsize=(7, 4))
    for column in [c for c in by_fold.columns if c.endswith("_log_loss")]:
        ax.plot(by_fold.index, by_fold[column], marker="o", label=column[: -len("_log_loss")])
    ax.set(xlabel="test season", ylabel="log loss", title="log loss by fold")
    ax.legend()
    figures["metric_by_fold.png"] = fig
    if booster:
        import lightgbm as lgb

        model = lgb.Booster(model_str=booster)
        gain = pd.Series(model.feature_importance("gain"), index=model.feature_name())
        fig, ax = plt.subplots(figsize=(7, 6))
        gain.sort_values().plot.barh(ax=ax, title="LightGBM feature importance (gain)")
        figures["feature_importance.png"] = fig
    return figures


def log_training(
    config: GamelineConfig,
    oof: pd.DataFrame,
    final: FoldModels,
    features: list[str],
    example: pd.DataFrame,
    tags: dict[str, str],
    version_tags: dict[str, str] | None = None,
) -> TrainingRecord:
    """Log params, tags, fold runs, metrics, out-of-fold predictions, plots and the final model;
    register it, tag the version (`version_tags`: its training window and recipe) and point the
    `challenger` alias at it."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    use_experiment(config)
    family = config.mlflow.final_family
    overall = family_scores(oof)
    bet_columns = [c for c in (f"p_{family}", "p_with_market") if c in oof]
    overall.update(betting_metrics(oof, bet_columns, config.train.bet_edge))
    params = {
        "features": len(features),
        "final_family": family,
        **{f"train.{k}": v for k, v in config.train.model_dump().items() if k != "lightgbm"},
        **{f"lightgbm.{k}": v for k, v in config.train.lightgbm.model_dump().items()},
        **{f"elo.{k}": v for k, v in config.features.elo.model_dump().items()},
    }
    with mlflow.start_run(run_name=f"walk-forward-{config.name}") as parent:
        mlflow.log_params(params)
        mlflow.set_tags(tags)
        for number, part in oof.groupby("fold"):
            season, block = int(part["season"].iloc[0]), int(part["block"].iloc[0])
            name = f"fold-{season}" + (f"-block-{block}" if config.train.date_blocks > 1 else "")
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_params({"test_season": season, "fold": int(number), "block": block})
                mlflow.log_metrics(family_scores(part))
        mlflow.log_metrics(overall)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            oof.to_parquet(folder / "oof_predictions.parquet", index=False)
            mlflow.log_artifact(str(folder / "oof_predictions.parquet"))
            table = segment_table(oof, prediction_columns(oof))
            table.to_csv(folder / "segments.csv", index=False)
            mlflow.log_artifact(str(folder / "segments.csv"))
            headline = table[(table["model"] == family) & (table["segment"] != "season")]
            mlflow.log_metrics(
                {
                    f"{family}_log_loss__{row.segment}_{row.value}": row.log_loss
                    for row in headline.itertuples()
                }
            )
            import matplotlib.pyplot as plt

            for name, figure in _plots(oof, family, final.lightgbm).items():
                mlflow.log_figure(figure, name)
                plt.close(figure)  # pyplot keeps every figure open until closed
            artifacts = {"recipe": str(folder / "recipe.json")}
            recipe = {
                "models": final.model_dump(exclude={"lightgbm"}),
                "features": features,
                "family": family,
            }
            (folder / "recipe.json").write_text(json.dumps(recipe))
            if final.lightgbm:
                (folder / "model.lgb").write_text(final.lightgbm)
                artifacts["booster"] = str(folder / "model.lgb")
            from gameline.tasks.model.train import predict_models

            output = predict_models(final, example, features)[f"p_{family}"].to_numpy()
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE),
                artifacts=artifacts,
                signature=infer_signature(example, output),
                input_example=example.head(3),
                pip_requirements=PIP_REQUIREMENTS,
                registered_model_name=model_name(config),
            )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri(config))
    client.set_registered_model_alias(model_name(config), CHALLENGER, version)
    client.set_model_version_tag(model_name(config), version, "run_id", parent.info.run_id)
    for key, value in (version_tags or {}).items():
        client.set_model_version_tag(model_name(config), version, key, value)
    return TrainingRecord(
        run_id=parent.info.run_id,
        experiment=experiment_name(config),
        model_name=model_name(config),
        model_version=version,
        alias=CHALLENGER,
        metrics=overall,
        folds=int(oof["fold"].nunique()),
    )


def recipe_tags(config: GamelineConfig, played: pd.DataFrame) -> dict[str, str]:
    """Model-version tags that let the gate judge and, if need be, retrain a version: the
    window of games it was trained on and its recipe (train settings, features, family)."""
    starts = played["event_timestamp"]
    return {
        "trained_from": starts.min().isoformat(),
        "trained_until": starts.max().isoformat(),
        "train_games": str(len(played)),
        "train_config": config.train.model_dump_json(),
        "features": ",".join(model_features(feature_columns(config.features), config.train)),
        "family": config.mlflow.final_family,
        "config": config.name,
    }


def model_example(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input columns for some games (what the pyfunc signature describes)."""
    columns = [f"{side}__{f}" for side in ("home", "away") for f in features]
    example = frame[columns].astype("float64").copy()
    example["neutral"] = frame["neutral"].to_numpy(dtype=bool)
    return example.reset_index(drop=True)


def load_model(config: GamelineConfig, alias: str = CHALLENGER) -> Any:
    """The registered model behind an alias, as an MLflow pyfunc."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(config))
    return mlflow.pyfunc.load_model(f"models:/{model_name(config)}@{alias}")


HIGHER_IS_BETTER = ("auc", "accuracy", "roi")


def runs_frame(config: GamelineConfig) -> pd.DataFrame:
    """Every training (parent) run of the config's experiment, newest first."""
    import mlflow

    use_experiment(config)
    runs = mlflow.search_runs(
        experiment_names=[experiment_name(config)], order_by=["attributes.start_time DESC"]
    )
    if runs.empty:
        return runs
    parent_column = "tags.mlflow.parentRunId"
    return runs[runs[parent_column].isna()] if parent_column in runs else runs


def best_runs(config: GamelineConfig, metric: str, limit: int = 10) -> pd.DataFrame:
    """The best training runs by a metric (lower is better, except AUC, accuracy, ROI)."""
    runs = runs_frame(config)
    column = f"metrics.{metric}"
    if runs.empty or column not in runs:
        known = sorted(c[len("metrics.") :] for c in runs.columns if c.startswith("metrics."))
        raise ValueError(f"no run has metric {metric!r}; known: {known}")
    ascending = not metric.endswith(HIGHER_IS_BETTER)
    ranked = runs.dropna(subset=[column]).sort_values(column, ascending=ascending)
    return ranked[["run_id", "tags.mlflow.runName", "start_time", column]].head(limit)


def compare_runs(config: GamelineConfig, run_ids: list[str]) -> pd.DataFrame:
    """Params, metrics and feature tags of runs side by side (one column per run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(config))
    columns = {}
    for run_id in run_ids:
        run = client.get_run(run_id)
        values: dict[str, Any] = {f"param {k}": v for k, v in run.data.params.items()}
        values.update({f"metric {k}": round(v, 4) for k, v in run.data.metrics.items()})
        values["features"] = run.data.tags.get("features", "")
        columns[run_id[:8]] = values
    return pd.DataFrame(columns).sort_index()
