"""Training plots: calibration (out of fold), log loss by fold, LightGBM feature importance.
Figures are returned for the caller to log, then closed (pyplot keeps every figure open)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.contracts import LABEL
from gameline.tasks.model.line_scores import line_family
from gameline.tasks.model.metrics import reliability_curve, scores_by
from gameline.tasks.model.targets import line_labels


def reliability_figure(
    y: np.ndarray,
    p: np.ndarray,
    predicted: str,
    observed: str,
    family: str = "",
    zoom: bool = False,
) -> Any:
    """Observed rate against predicted probability by bin, beside the diagonal. `zoom`: ten
    bins of equal counts and the axes around them, with each bin's 95% interval (probabilities
    at a line stay near 0.5: fixed bins would put them all in one)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if zoom:
        keep = ~(np.isnan(y) | np.isnan(p))
        frame = pd.DataFrame({"y": y[keep], "p": p[keep]})
        frame["bin"] = pd.qcut(frame["p"], 10, duplicates="drop")
        curve = frame.groupby("bin", observed=True).agg(
            p_mean=("p", "mean"), y_rate=("y", "mean"), games=("y", "size")
        )
        half = 1.96 * np.sqrt(curve["y_rate"] * (1 - curve["y_rate"]) / curve["games"])
        ax.errorbar(curve["p_mean"], curve["y_rate"], yerr=half, marker="o", capsize=3)
        low = float(min(curve["p_mean"].min(), (curve["y_rate"] - half).min())) - 0.02
        high = float(max(curve["p_mean"].max(), (curve["y_rate"] + half).max())) + 0.02
        ax.plot([low, high], [low, high], color="grey", linestyle="--")
        ax.set(xlim=(low, high), ylim=(low, high))
    else:
        curve = reliability_curve(y, p)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--")
        ax.plot(curve["p_mean"], curve["y_rate"], marker="o")
    named = f"{family}, " if family else ""
    ax.set(xlabel=f"predicted {predicted}", ylabel=f"observed {observed}")
    ax.set_title(f"calibration ({named}out of fold)")
    fig.tight_layout()
    return fig


def training_plots(oof: pd.DataFrame, family: str, booster: str | None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {
        "calibration.png": reliability_figure(
            oof[LABEL].to_numpy(), oof[f"p_{family}"].to_numpy(), "P(home win)", "home win rate"
        )
    }
    lines = line_family(oof, family)
    for target, side, what in (("margin", "cover", "home covers"), ("total", "over", "over")):
        if lines and f"{side}_{lines}" in oof and oof[f"{side}_{lines}"].notna().any():
            figures[f"calibration_{side}.png"] = reliability_figure(
                line_labels(oof, target),
                oof[f"{side}_{lines}"].to_numpy(dtype=float, na_value=float("nan")),
                f"P({what}), pushes left out",
                f"share of games: {what}",
                lines,
                zoom=True,
            )
    by_fold = scores_by(oof, "season")
    fig, ax = plt.subplots(figsize=(7, 4))
    for column in [c for c in by_fold.columns if c.endswith("_log_loss")]:
        ax.plot(by_fold.index, by_fold[column], marker="o", label=column[: -len("_log_loss")])
    ax.set(xlabel="test season", ylabel="log loss", title="log loss by fold")
    ax.set_xticks(list(by_fold.index), [str(season) for season in by_fold.index])  # whole seasons
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the lines
    fig.tight_layout()
    figures["metric_by_fold.png"] = fig
    if booster:
        import lightgbm as lgb

        model = lgb.Booster(model_str=booster)
        gain = pd.Series(model.feature_importance("gain"), index=model.feature_name())
        fig, ax = plt.subplots(figsize=(7, 6))
        gain.sort_values().plot.barh(ax=ax, title="LightGBM feature importance (gain)")
        ax.set_xlabel("total gain")
        fig.tight_layout()  # room for the longest feature name
        figures["feature_importance.png"] = fig
    return figures
