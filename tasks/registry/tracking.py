"""What a training run records in the registry: params and tags, a nested run per fold, the
out-of-fold predictions and segment scores, plots, and the final model registered as a pyfunc
over LightGBM's native model (no pickle), tagged with its recipe, then aliased `challenger`.

Everything goes through the `Registry` adapter; nothing here imports mlflow.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.facts import Facts, FactTable
from gameline.tasks.model.anchored import AnchoredModel
from gameline.tasks.model.inputs import LINE_INPUTS
from gameline.tasks.model.line_scores import (
    COIN,
    line_clv,
    line_family,
    line_scores,
    line_scores_by,
    line_segments,
)
from gameline.tasks.model.metrics import (
    betting_metrics,
    family_scores,
    prediction_columns,
    segment_table,
)
from gameline.tasks.model.plots import training_plots
from gameline.tasks.model.targets import MIN_SCORED_GAMES
from gameline.tasks.model.train import FoldModels, predict_models
from gameline.tasks.provenance import git_commit
from gameline.tasks.registry.aliases import CHALLENGER
from gameline.tasks.registry.evaluation import missing_recipe
from gameline.tasks.registry.mlflow_registry import Registry

PIP_REQUIREMENTS = [
    "lightgbm==4.7.0",
    "pandas==2.3.3",
    "scikit-learn==1.9.1",
    "numpy",
    "pydantic>=2.7",
    "pyyaml>=6",
    "mlflow==3.17.2",
]
# MLflow "models from code": the file is run at log and load time, so it is passed by path.
MODEL_CODE = Path(__file__).parents[1] / "model" / "pyfunc.py"


class TrainingRecord(BaseModel):
    """What a training run logged and registered."""

    run_id: str
    experiment: str
    model_name: str
    model_version: str
    alias: str
    metrics: dict[str, float]
    folds: int
    line_family: str | None = None
    line_note: str | None = None  # why the margin and total were not modelled
    targets: dict[str, dict[str, float]] = {}

    def facts(self) -> Facts:
        """Out-of-fold scores per model family, closing-line value, what was registered."""
        families = model_families(self.metrics)
        scores = ", ".join(f"{f} {self.metrics[f'{f}_log_loss']:.4f}" for f in families)
        clv = clv_text(self.metrics)
        registered = f"registered {self.model_name} version {self.model_version} as '{self.alias}'"
        line = (
            f"train: {self.folds} folds, out-of-fold log loss {scores}"
            f"{'; ' + clv if clv else ''}; registered {self.model_name} v{self.model_version} "
            f"as '{self.alias}' (run {self.run_id})"
        )
        metrics = ("log_loss", "brier", "auc", "accuracy", "ece")
        table = FactTable(
            f"Walk-forward {self.experiment}: {self.folds} folds, run {self.run_id}",
            ("model", *metrics),
            [(f, *(f"{self.metrics[f'{f}_{m}']:.4f}" for m in metrics)) for f in families],
            right=metrics,
        )
        family = self.line_family
        lines = line_table(self.metrics, family) if family else None
        if lines is not None:
            side = lines.rows[0]
            line += f"; {family} at the lines: {side[0]} log loss {side[2]} (coin {COIN:.4f})"
        elif self.line_note:
            line += f"; margin and total: {self.line_note}"
        said = (
            [lines] if lines else [f"Margin and total: {self.line_note}."] if self.line_note else []
        )
        said = [*said, *(line_clv_texts(self.metrics, family) if lines else [])]
        blocks = [table, *said, *([clv] if clv else []), registered]
        return Facts(line=line, blocks=blocks)


def model_families(metrics: dict[str, float]) -> list[str]:
    """The winner's model families scored in a run's metrics (`<family>_log_loss`), sorted."""
    return sorted(
        {
            k.rsplit("_", 2)[0]
            for k in metrics
            if k.endswith("_log_loss") and not k.startswith(LINE_SIDES)
        }
    )


# The prefixes of the margin and total models' metrics at the lines (`line_scores`).
LINE_SIDES = ("cover_", "over_")


def line_clv_texts(metrics: dict[str, float], family: str | None) -> list[str]:
    """Closing-line value of the family's spread and total bets at the opening lines."""
    out = []
    for side, line in (("cover", "spread"), ("over", "total")):
        key = f"{side}_{family}"
        if not metrics.get(f"{key}_clv_bets"):
            continue
        out.append(
            f"P({side}) bets at the opening {line}: {metrics[f'{key}_clv_bets']:.0f} of "
            f"{metrics[f'{side}_both_lines_games']:.0f} games with both lines; the line then "
            f"moved {metrics[f'{key}_clv_points']:+.2f} points their way on average, beat the "
            f"close on {metrics[f'{key}_clv_beat_share']:.0%}, return at the open "
            f"{metrics[f'{key}_clv_open_roi']:+.1%} at -110"
        )
    return out


def line_table(metrics: dict[str, float], family: str) -> FactTable | None:
    """P(cover) and P(over) of the reported line family against the lines (None: no lines)."""
    rows = []
    for side, target, what in (("cover", "margin", "spread"), ("over", "total", "total")):
        key = f"{side}_{family}"
        if f"{key}_log_loss" not in metrics:
            continue
        rows.append(
            (
                f"P({side}) at the {what}",
                f"{metrics[f'{side}_games']:.0f}",
                f"{metrics[f'{key}_log_loss']:.4f}",
                f"{metrics[f'{key}_accuracy']:.1%}",
                f"{metrics[f'{key}_ece']:.4f}",
                f"{metrics[f'{key}_bets']:.0f}",
                "-" if not metrics[f"{key}_bets"] else f"{metrics[f'{key}_roi_110']:+.1%}",
                f"{metrics[f'{target}_{family}_rmse']:.2f} ({metrics[f'{target}_line_rmse']:.2f})",
            )
        )
    if not rows:
        return None
    columns = ("target", "games", "log loss", "accuracy", "ECE", "bets", "return -110")
    return FactTable(
        f"{family} at the lines (a coin at the line: log loss {COIN:.4f}, accuracy 50%)",
        (*columns, "error, points (line's)"),
        rows,
        right=(*columns[1:], "error, points (line's)"),
    )


def clv_text(metrics: dict[str, float]) -> str:
    """The closing-line value of the model's bets at the opening line ('' without both lines)."""
    model = next((k[: -len("_clv_mean")] for k in metrics if k.endswith("_clv_mean")), None)
    if model is None or not metrics[f"{model}_clv_bets"]:
        return ""
    return (
        f"{model} bets at the opening line: {metrics[f'{model}_clv_bets']:.0f} of "
        f"{metrics['both_lines_games']:.0f} games with both lines, closing-line value "
        f"{metrics[f'{model}_clv_mean']:+.2%} per bet, beat the close on "
        f"{metrics[f'{model}_clv_beat_share']:.0%}, return {metrics[f'{model}_clv_open_roi']:+.1%}"
    )


def training_params(config: GamelineConfig, features: list[str]) -> dict[str, Any]:
    """The run's params: the feature count, the family, train, LightGBM and Elo settings."""
    train = config.train
    return {
        "features": len(features),
        "final_family": config.mlflow.final_family,
        **{f"train.{k}": v for k, v in train.model_dump().items() if k != "lightgbm"},
        **{f"lightgbm.{k}": v for k, v in train.lightgbm.model_dump().items()},
        **{f"elo.{k}": v for k, v in config.features.elo.model_dump().items()},
    }


def overall_metrics(oof: pd.DataFrame, family: str, bet_edge: float) -> dict[str, float]:
    """Out-of-fold scores of every model, and the betting rule's results."""
    overall = family_scores(oof)
    bet_columns = [c for c in (f"p_{family}", "p_with_market") if c in oof]
    overall.update(betting_metrics(oof, bet_columns, bet_edge))
    overall.update(line_scores(oof, bet_edge))
    overall.update(line_clv(oof, bet_edge))
    return overall


def log_folds(registry: Registry, oof: pd.DataFrame, date_blocks: int) -> None:
    """A nested run per fold with its test season, block and scores."""
    for number, part in oof.groupby("fold"):
        season, block = int(part["season"].iloc[0]), int(part["block"].iloc[0])
        name = f"fold-{season}" + (f"-block-{block}" if date_blocks > 1 else "")
        with registry.run(name, nested=True):
            registry.log(
                params={"test_season": season, "fold": int(number), "block": block},
                metrics={**family_scores(part), **line_scores(part)},
            )


def log_tables(registry: Registry, oof: pd.DataFrame, family: str, folder: Path) -> None:
    """The out-of-fold predictions, the segment table and the family's segment scores."""
    oof.to_parquet(folder / "oof_predictions.parquet", index=False)
    registry.log_file(folder / "oof_predictions.parquet")
    table = segment_table(oof, prediction_columns(oof))
    table.to_csv(folder / "segments.csv", index=False)
    registry.log_file(folder / "segments.csv")
    lines = line_family(oof, family)
    if lines:
        by_season = line_scores_by(oof, "season")
        by_season.to_csv(folder / "line_scores_by_season.csv", index_label="season")
        registry.log_file(folder / "line_scores_by_season.csv")
        line_segments(oof, lines).to_csv(folder / "line_segments.csv", index=False)
        registry.log_file(folder / "line_segments.csv")
    headline = table[(table["model"] == family) & (table["segment"] != "season")]
    registry.log(
        metrics={
            f"{family}_log_loss__{row.segment}_{row.value}": row.log_loss
            for row in headline.itertuples()
        }
    )


def log_plots(registry: Registry, oof: pd.DataFrame, family: str, booster: str | None) -> None:
    import matplotlib.pyplot as plt

    for name, figure in training_plots(oof, family, booster).items():
        registry.log_figure(figure, name)
        plt.close(figure)  # pyplot keeps every figure open until closed


def log_final_model(
    registry: Registry,
    final: FoldModels,
    features: list[str],
    family: str,
    example: pd.DataFrame,
    folder: Path,
) -> str:
    """The final model as a pyfunc over a JSON recipe and LightGBM's native model, registered;
    returns its version."""
    recipe = {"models": final.model_dump(exclude={"lightgbm"}), "features": features}
    (folder / "recipe.json").write_text(json.dumps({**recipe, "family": family}))
    artifacts = {"recipe": str(folder / "recipe.json")}
    if final.lightgbm:
        (folder / "model.lgb").write_text(final.lightgbm)
        artifacts["booster"] = str(folder / "model.lgb")
    output = predict_models(final, example, features)[f"p_{family}"].to_numpy()
    return registry.log_pyfunc(
        MODEL_CODE,
        artifacts,
        example,
        output,
        PIP_REQUIREMENTS,
        params={"outputs": "p_home"},
        optional=LINE_INPUTS,
    )


def headline(overall: dict[str, float], family: str, folds: int) -> str:
    """The registered family's out-of-fold scores against Elo, in one sentence."""

    def score(name: str, digits: int = 4) -> str:
        value = overall.get(name)
        return "-" if value is None else f"{value:.{digits}f}"

    return (
        f"{family} (the registered family), out of fold over {folds} walk-forward folds: "
        f"log loss {score(f'{family}_log_loss')} (Elo {score('elo_log_loss')}), "
        f"Brier {score(f'{family}_brier')}, ECE {score(f'{family}_ece')}, "
        f"AUC {score(f'{family}_auc', 3)}"
    )


def run_name(config_name: str, tags: dict[str, str], version_tags: dict[str, str]) -> str:
    """A training run's name: config, last game trained on and trigger, so runs differ (and
    differ early: the runs table cuts names short)."""
    until = pd.Timestamp(version_tags["trained_until"])
    return f"{config_name}-{until:%Y-%m-%d}-{tags.get('retrain_trigger', 'manual')}"


def source_tags() -> dict[str, str]:
    """Where MLflow shows the code: the entry point and the git commit."""
    commit = git_commit()
    tags = {"mlflow.source.name": "gameline.flows.train", "mlflow.source.type": "JOB"}
    return {**tags, "mlflow.source.git.commit": commit} if commit else tags


def log_training(
    registry: Registry,
    config: GamelineConfig,
    oof: pd.DataFrame,
    final: FoldModels,
    features: list[str],
    example: pd.DataFrame,
    tags: dict[str, str],
    version_tags: dict[str, str],
    data: pd.DataFrame,
    data_path: Path,
) -> TrainingRecord:
    """Log params, tags, the training data (a dataset input), fold runs, metrics, out-of-fold
    predictions, plots and the final model; register it, tag and describe the version (its
    run, training window and recipe), then point the `challenger` alias at it: a version is
    aliased only once its recipe is on it."""
    family = config.mlflow.final_family
    overall = overall_metrics(oof, family, config.train.bet_edge)
    folds = int(oof["fold"].nunique())
    lines = line_family(oof, family)
    scores = headline(overall, family, folds) + line_headline(overall, lines)
    if final.anchored is not None:  # whether the served market is corrected, and why
        scores += anchored_headline(final.anchored)
        overall = {
            **overall,
            "final_anchored_corrected": float(final.anchored.booster is not None),
            "final_anchored_valid_gain": final.anchored.valid_gain,
        }
    window = (
        f"Trained on {version_tags['train_games']} games from "
        f"{version_tags['trained_from'][:10]} to {version_tags['trained_until'][:10]} "
        f"(config {config.name}, trigger {tags.get('retrain_trigger', 'manual')})."
    )
    with registry.run(run_name(config.name, tags, version_tags)) as run_id:
        registry.log(
            params=training_params(config, features),
            tags={**tags, **source_tags(), "mlflow.note.content": f"{window}\n\n{scores}"},
        )
        registry.log_dataset(
            data, str(data_path), data_path.stem, data_path.stem.rsplit("-", 1)[-1], LABEL
        )
        log_source_inputs(registry, config, tags)
        log_folds(registry, oof, config.train.date_blocks)
        registry.log(metrics=overall)
        with tempfile.TemporaryDirectory() as tmp:
            log_tables(registry, oof, family, Path(tmp))
            log_plots(registry, oof, family, final.lightgbm)
            version = log_final_model(registry, final, features, family, example, Path(tmp))
    registry.set_version_tags(version, {"run_id": run_id, **version_tags})
    registry.describe_version(version, f"{window} {scores}. Run {run_id}.")
    registry.set_alias(CHALLENGER, version)
    return TrainingRecord(
        run_id=run_id,
        experiment=registry.experiment,
        model_name=registry.model_name,
        model_version=version,
        alias=CHALLENGER,
        metrics=overall,
        folds=folds,
        line_family=lines,
        line_note=None if lines else line_note(config, oof),
        targets=target_summary(overall, family, lines),
    )


def line_headline(overall: dict[str, float], lines: str | None) -> str:
    """The margin and total models' P(cover) and P(over) at the lines, for the headline."""
    if not lines or f"cover_{lines}_log_loss" not in overall:
        return ""
    return (
        f". The spread and total ({lines}): P(cover) log loss "
        f"{overall[f'cover_{lines}_log_loss']:.4f}, P(over) "
        f"{overall.get(f'over_{lines}_log_loss', float('nan')):.4f} at the lines (a coin "
        f"{COIN:.4f})"
    )


def anchored_headline(anchored: AnchoredModel) -> str:
    """Whether the final anchored model corrects the market, and the validation evidence."""
    return (
        f". Anchored on the market ({', '.join(anchored.market)}): "
        f"{'corrected' if anchored.booster else 'its price as it is'}; its corrections "
        f"{'lowered' if anchored.valid_gain > 0 else 'raised'} the validation log loss by "
        f"{abs(anchored.valid_gain):.5f} (standard error {anchored.valid_gain_se:.5f}, "
        f"{anchored.valid_games} games)"
    )


def line_note(config: GamelineConfig, oof: pd.DataFrame) -> str:
    """Why a training has no margin and total models."""
    if not config.train.line_targets:
        return "off (train.line_targets: false)"
    if "home_score" in oof and oof["home_score"].notna().any():
        return f"not modelled: fewer than {MIN_SCORED_GAMES} training games with scores"
    return "not modelled: the games have no scores (the file says who won, not by how much)"


def target_summary(
    metrics: dict[str, float], family: str, lines: str | None
) -> dict[str, dict[str, float]]:
    """Each target's out-of-fold headline scores (what `gameline train --json` gives scripts):
    the winner's registered family; P(cover) and P(over) of the line family at the lines."""
    keys = ("log_loss", "accuracy", "ece", "brier")
    out = {"winner": {k: metrics[f"{family}_{k}"] for k in keys if f"{family}_{k}" in metrics}}
    out["winner"]["games"] = metrics.get("games", float("nan"))
    for side in ("cover", "over"):
        if lines and f"{side}_{lines}_log_loss" in metrics:
            found = {k: metrics[f"{side}_{lines}_{k}"] for k in (*keys, "bets", "roi_110")}
            out[side] = {**found, "games": metrics[f"{side}_games"]}
    return out


def log_source_inputs(registry: Registry, config: GamelineConfig, tags: dict[str, str]) -> None:
    """Each feature source's stored facts as a dataset input of the run (context `feature
    source`), named by the source and digested by the hash the training set's tags carry."""
    paths = state_paths(config)
    for source in config.features.sources:
        digest = tags.get(f"source.{source.name}.sha256")
        facts = paths.source_facts(source.name)
        if digest is None or not facts.exists():
            continue
        registry.log_dataset(
            pd.read_parquet(facts), str(facts), f"source-{source.name}", digest[:16], None,
            context="feature source",
        )  # fmt: skip


INCOMPLETE = "gameline.incomplete"


def tidy_registry(registry: Registry) -> tuple[list[str], list[str]]:
    """What a training killed mid-way leaves, made plain before the next one: its runs still
    RUNNING are marked FAILED, and a version registered without its recipe (never aliased,
    served or a rollback target) is tagged and described as incomplete. (closed run ids,
    incomplete version numbers)."""
    closed = registry.close_orphaned_runs()
    incomplete = []
    for version, tags, aliases in registry.versions():
        if aliases or INCOMPLETE in tags or not missing_recipe(tags):
            continue
        reason = f"registration cut short: no recipe tags {missing_recipe(tags)}"
        registry.set_version_tags(version, {INCOMPLETE: reason})
        registry.describe_version(version, f"Incomplete: {reason}; never served.")
        incomplete.append(version)
    return closed, incomplete


def recipe_tags(
    config: GamelineConfig, played: pd.DataFrame, features: list[str]
) -> dict[str, str]:
    """Model-version tags that let the gate judge and, if need be, retrain a version: the
    window of games it was trained on and its recipe (train settings, features, family)."""
    starts = played["event_timestamp"]
    return {
        "trained_from": starts.min().isoformat(),
        "trained_until": starts.max().isoformat(),
        "train_games": str(len(played)),
        "train_config": config.train.model_dump_json(),
        "features": ",".join(features),
        "family": config.mlflow.final_family,
        "config": config.name,
    }


HIGHER_IS_BETTER = ("auc", "accuracy", "roi")


def training_runs(registry: Registry) -> pd.DataFrame:
    """Every training (parent) run of the experiment, newest first."""
    runs = registry.search_runs()
    if runs.empty:
        return runs
    parent_column = "tags.mlflow.parentRunId"
    return runs[runs[parent_column].isna()] if parent_column in runs else runs


def best_runs(registry: Registry, metric: str, limit: int = 10) -> pd.DataFrame:
    """The best training runs by a metric (lower is better, except AUC, accuracy, ROI)."""
    runs = training_runs(registry)
    column = f"metrics.{metric}"
    if runs.empty or column not in runs:
        known = sorted(c[len("metrics.") :] for c in runs.columns if c.startswith("metrics."))
        raise ValueError(f"no run has metric {metric!r}; known: {known}")
    ascending = not metric.endswith(HIGHER_IS_BETTER)
    ranked = runs.dropna(subset=[column]).sort_values(column, ascending=ascending)
    return ranked[["run_id", "tags.mlflow.runName", "start_time", column]].head(limit)


def compare_runs(registry: Registry, run_ids: list[str]) -> pd.DataFrame:
    """Params, metrics and feature tags of runs side by side (one column per run)."""
    columns = {}
    for run_id in run_ids:
        data = registry.run_data(run_id)
        values: dict[str, Any] = {f"param {k}": v for k, v in data.params.items()}
        values.update({f"metric {k}": round(v, 4) for k, v in data.metrics.items()})
        values["features"] = data.tags.get("features", "")
        columns[run_id[:8]] = values
    return pd.DataFrame(columns).sort_index()
