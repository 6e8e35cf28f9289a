"""The margin and the total: walk-forward models of the home margin and of the total score,
each with a predictive distribution per game, priced at the game's lines as P(home covers the
spread) and P(over the total).

A model predicts each game's mean (a ridge regression and LightGBM, blended as the winner's
models are); the distribution around the mean is chosen per target on the latest training games
(the inner validation games, never the test season): a normal one with the spread of the
residuals there (points in basketball and football), or a count model (the home and away scores
Poisson: the margin Skellam, the total Poisson; goals and runs), whichever gives the integer
outcomes there the higher likelihood. Scores are whole numbers, so a whole-number line can push:
P(push) is the outcome's probability at the line, and the reported P(cover) and P(over) are
conditional on no push (what a bet at the line wins or loses on).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import TrainConfig
from gameline.tasks.model.folds import inner_split
from gameline.tasks.model.inputs import EDGE_INPUTS, MISSING, floats, model_inputs
from gameline.tasks.model.learners import (
    LinearModel,
    column_moments,
    fit_lightgbm,
    predict_lightgbm,
    season_weights,
)

Target = Literal["margin", "total"]
TARGETS: tuple[Target, ...] = ("margin", "total")
# Each target's line (contract column) and the name of the side it prices.
LINES: dict[Target, tuple[str, str]] = {
    "margin": ("home_spread", "cover"),
    "total": ("total_line", "over"),
}
FAMILIES = ("linear", "lightgbm", "blend")
# A count model's per-side mean never goes below this (a Poisson mean must be positive).
MIN_RATE = 0.05
# The features of a team's scoring level: the total model takes them as home plus away sums.
SCORING = ("points_for", "points_against")


def outcome(frame: pd.DataFrame, target: Target) -> np.ndarray:
    """The home margin or the total score of each game (NaN without both scores)."""
    home, away = floats(frame, "home_score"), floats(frame, "away_score")
    return home - away if target == "margin" else home + away


# The margin and total models need this many training games with both scores.
MIN_SCORED_GAMES = 200


def has_scores(frame: pd.DataFrame) -> bool:
    """True when enough games have both scores to model the margin and the total."""
    if "home_score" not in frame or "away_score" not in frame:
        return False
    return int(np.sum(~np.isnan(outcome(frame, "margin")))) >= MIN_SCORED_GAMES


def line_result(values: np.ndarray, line: np.ndarray, target: Target) -> np.ndarray:
    """1 where the home side covered (margin) or the game went over (total), 0 where not, NaN
    for a push or a game without a line or a result."""
    values = np.asarray(values, dtype="float64")
    line = np.asarray(line, dtype="float64")
    edge = values + line if target == "margin" else values - line
    with np.errstate(invalid="ignore"):
        return np.where(edge > 0, 1.0, np.where(edge < 0, 0.0, np.nan))


def target_inputs(
    frame: pd.DataFrame, features: list[str], target: Target, inputs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The winner's inputs (home-minus-away differences; `inputs` where they are already
    built), and for the total the scoring level of both teams (home plus away sums of the
    scoring features): a total depends on how much both sides score, which differences
    cancel."""
    inputs = model_inputs(frame, features) if inputs is None else inputs
    if target != "total":
        return inputs
    sums = {
        f"sum__{feature}": floats(frame, f"home__{feature}") + floats(frame, f"away__{feature}")
        for feature in features
        if feature.startswith(SCORING)
    }
    return inputs.assign(**sums) if sums else inputs


class Regression(LinearModel):
    """A standardised ridge regression, stored as numbers."""

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.linear(inputs)


def fit_regression(
    inputs: pd.DataFrame, y: np.ndarray, alpha: float, weights: np.ndarray | None, structural: bool
) -> Regression:
    """Fit a ridge regression; a missing input sits at the training mean. `structural`: no
    intercept and the edge inputs uncentred (the margin's home edge then comes from the league's
    point-in-time home margin, as in the winner's logistic model; a neutral game has none)."""
    from sklearn.linear_model import Ridge

    x = inputs.to_numpy(dtype=float)
    means, scales = column_moments(x)
    fixed = [
        i
        for i, col in enumerate(inputs.columns)
        if col.startswith(MISSING) or (structural and col in EDGE_INPUTS)
    ]
    means[fixed] = 0.0
    scales[[i for i, col in enumerate(inputs.columns) if col.startswith(MISSING)]] = 1.0
    z = np.nan_to_num((x - means) / scales)
    model = Ridge(alpha=alpha, fit_intercept=not structural).fit(z, y, sample_weight=weights)
    return Regression(
        columns=list(inputs.columns),
        means=means.tolist(),
        scales=scales.tolist(),
        coef=np.atleast_1d(model.coef_).tolist(),
        intercept=float(model.intercept_) if not structural else 0.0,
    )


# Ridge strength on standardised inputs (a few thousand games make it matter little).
RIDGE_ALPHA = 10.0


class Distribution(BaseModel):
    """The predictive distribution around a game's predicted mean: normal with `sd`, or the
    count model (Skellam for the margin, Poisson for the total)."""

    kind: Literal["normal", "count"]
    sd: float


def at_least(
    dist: Distribution, target: Target, mean: np.ndarray, other: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """P(outcome >= k) for whole numbers k; `other` is the other target's mean (a count model
    splits the margin and the total into the two sides' scoring rates)."""
    from scipy import stats  # 0.4 s to import: only when a line is priced

    if dist.kind == "normal":
        return stats.norm.sf((k - 0.5 - mean) / dist.sd)
    margin, total = (mean, other) if target == "margin" else (other, mean)
    home = np.maximum((total + margin) / 2, MIN_RATE)
    away = np.maximum((total - margin) / 2, MIN_RATE)
    if target == "margin":
        return stats.skellam.sf(k - 1, home, away)
    return stats.poisson.sf(k - 1, home + away)


def exactly(
    dist: Distribution, target: Target, mean: np.ndarray, other: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """P(outcome == k) for whole numbers k."""
    return at_least(dist, target, mean, other, k) - at_least(dist, target, mean, other, k + 1)


def line_probabilities(
    dist: Distribution,
    target: Target,
    mean: np.ndarray,
    other: np.ndarray,
    line: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(P(cover or over | no push), P(push)) at each game's line; NaN where there is no line.

    The home side covers when margin + spread > 0, i.e. margin > -spread; a total goes over
    when total > line. On a whole-number threshold c the outcome c is a push."""
    line = np.asarray(line, dtype="float64")
    threshold = -line if target == "margin" else line
    whole = np.isclose(threshold, np.round(threshold))
    first_win = np.where(whole, np.round(threshold) + 1, np.ceil(threshold))
    safe = np.nan_to_num(first_win)
    win = at_least(dist, target, mean, other, safe)
    push = np.where(whole, exactly(dist, target, mean, other, np.nan_to_num(threshold)), 0.0)
    p = win / np.clip(1 - push, 1e-12, None)
    missing = np.isnan(line)
    return np.where(missing, np.nan, np.clip(p, 1e-6, 1 - 1e-6)), np.where(missing, np.nan, push)


def outcome_log_likelihood(
    dist: Distribution, target: Target, mean: np.ndarray, other: np.ndarray, y: np.ndarray
) -> float:
    """Mean log probability of the integer outcomes `y` (how the distribution is chosen)."""
    y = np.asarray(y, dtype="float64")
    p = exactly(dist, target, mean, other, y)
    return float(np.mean(np.log(np.clip(p, 1e-12, None))))


class WithLine(BaseModel):
    """A family's mean combined with the game's line where it has one, fitted by least squares
    on the validation games with a line: intercept + w_line * line + w_model * model's mean
    (the line as a mean: minus the spread, or the total line). A closing line knows most of what
    the results do, and more; the model adds what it knows beyond it."""

    intercept: float
    w_line: float
    w_model: float

    def apply(self, model_mean: np.ndarray, line_mean: np.ndarray) -> np.ndarray:
        combined = self.intercept + self.w_line * line_mean + self.w_model * model_mean
        return np.where(np.isnan(line_mean), model_mean, combined)


class FamilyFit(BaseModel):
    """How one family's mean is used: combined with the line (None: too few validation games
    had one), the distribution around that mean, and the one around the model's own mean where
    a game has no line."""

    with_line: WithLine | None = None
    distribution: Distribution
    alone: Distribution


class TargetModels(BaseModel):
    """One target's fitted models and how each family's mean is used."""

    target: Target
    linear: Regression
    lightgbm: str | None = None
    blend_weight: float
    families: dict[str, FamilyFit] = {}


class LineModels(BaseModel):
    """The margin and total models of one fold (or of the final model)."""

    margin: TargetModels
    total: TargetModels

    def of(self, target: Target) -> TargetModels:
        return self.margin if target == "margin" else self.total


def line_mean(frame: pd.DataFrame, target: Target) -> np.ndarray:
    """The line as the market's mean: minus the home spread, or the total line (NaN: none)."""
    line = game_lines(frame, target)
    return -line if target == "margin" else line


def model_means(models: TargetModels, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each family's own predicted mean (no line)."""
    out = {"linear": models.linear.predict(inputs)}
    if models.lightgbm is not None:
        out["lightgbm"] = predict_lightgbm(models.lightgbm, inputs)
        w = models.blend_weight
        out["blend"] = w * out["lightgbm"] + (1 - w) * out["linear"]
    return out


def fit_with_line(model_mean: np.ndarray, line: np.ndarray, y: np.ndarray) -> WithLine | None:
    """How far to move from the line toward the model, from the games with a line: the outcome
    minus the line regressed on the model's disagreement with the line (y - line = a + b (model
    - line)), each coefficient shrunk toward 0 (the line alone) by a prior worth some games:
    closing lines are close to unbiased, so an offset needs many games of evidence
    (LINE_BIAS_PRIOR_GAMES), the model's share fewer (MODEL_SHARE_PRIOR_GAMES). None when
    fewer than MIN_LINED_GAMES games have a line.

    The model's share stays within [0, 1] (the offset refitted where it is held there): a
    share below 0 or above 1 is small-sample noise that would move the fair line against the
    model or past it, and with a share below 0 a longer line asked of the API would lower
    P(cover) (the fair margin moving further than the line)."""
    lined = ~np.isnan(line)
    n = int(lined.sum())
    if n < MIN_LINED_GAMES:
        return None
    disagreement = model_mean[lined] - line[lined]
    residual = y[lined] - line[lined]
    x = np.column_stack([np.ones(n), disagreement])
    gram = x.T @ x
    spread = float(np.mean(disagreement**2)) or 1.0
    prior = np.diag([LINE_BIAS_PRIOR_GAMES, MODEL_SHARE_PRIOR_GAMES * spread])
    a, b = np.linalg.solve(gram + prior, x.T @ residual)
    if not 0.0 <= b <= 1.0:
        b = float(np.clip(b, 0.0, 1.0))
        a = float(np.sum(residual - b * disagreement)) / (n + LINE_BIAS_PRIOR_GAMES)
    return WithLine(intercept=float(a), w_line=float(1 - b), w_model=float(b))


def choose_distribution(
    target: Target, mean: np.ndarray, other: np.ndarray, y: np.ndarray
) -> Distribution:
    """The better-scoring of a normal (sd of the residuals) and the count model on `y`."""
    sd = float(np.sqrt(np.mean((y - mean) ** 2))) if len(y) else 1.0
    candidates = [Distribution(kind="normal", sd=max(sd, 0.5)), Distribution(kind="count", sd=sd)]
    if np.any(y < 0) and target == "total":  # a negative total is not a count: not a score
        candidates = candidates[:1]
    scored = [outcome_log_likelihood(d, target, mean, other, y) for d in candidates]
    return candidates[int(np.argmax(scored))]


# A family is combined with the line when this many validation games have one; the
# combination starts from the line alone (`fit_with_line`).
MIN_LINED_GAMES = 20
LINE_BIAS_PRIOR_GAMES = 2000
MODEL_SHARE_PRIOR_GAMES = 200


def fit_line_models(train: pd.DataFrame, features: list[str], cfg: TrainConfig) -> LineModels:
    """Both targets' models on one fold's training games with both scores.

    The families' means are fitted on the earlier training games; on the latest
    (`inner_valid_share`) ones each family's combination with the line is fitted and its
    distributions chosen and measured; the linear model is then refitted on every training game
    (LightGBM keeps its early-stopped fit)."""
    played = train[~np.isnan(outcome(train, "margin"))]
    weights = season_weights(played["season"].to_numpy(), cfg.season_weight_decay)
    fit, valid = inner_split(played["event_timestamp"], cfg.inner_valid_share)
    with_lightgbm = "lightgbm" in cfg.models or "blend" in cfg.models
    fitted: dict[Target, TargetModels] = {}
    own: dict[Target, dict[str, np.ndarray]] = {}
    for target in TARGETS:
        inputs = target_inputs(played, features, target)
        y = outcome(played, target)
        structural = target == "margin" and "league_home_edge" in inputs.columns
        models = TargetModels(
            target=target,
            linear=fit_regression(inputs[fit], y[fit], RIDGE_ALPHA, weights[fit], structural),
            blend_weight=cfg.blend_weight,
        )
        if with_lightgbm:
            models.lightgbm = fit_lightgbm(
                inputs[fit],
                y[fit],
                inputs[valid],
                y[valid],
                cfg.lightgbm,
                cfg.seed,
                weights[fit],
                objective="regression",
            )
        own[target] = model_means(models, inputs[valid])
        models.linear = fit_regression(inputs, y, RIDGE_ALPHA, weights, structural)
        fitted[target] = models
    lines = {t: line_mean(played[valid], t) for t in TARGETS}
    outcomes = {t: outcome(played, t)[valid] for t in TARGETS}
    blends = {
        t: {f: fit_with_line(m, lines[t], outcomes[t]) for f, m in own[t].items()} for t in TARGETS
    }
    combined = {
        t: {f: (b.apply(own[t][f], lines[t]) if b else own[t][f]) for f, b in blends[t].items()}
        for t in TARGETS
    }
    for target in TARGETS:
        other = other_target(target)
        lined = ~np.isnan(lines[target])
        y = outcomes[target]
        for family, blend in blends[target].items():
            partner = other_family(combined[other], family)
            alone = choose_distribution(
                target, own[target][family], other_family(own[other], family), y
            )
            fitted[target].families[family] = FamilyFit(
                with_line=blend,
                distribution=choose_distribution(
                    target, combined[target][family][lined], partner[lined], y[lined]
                )
                if blend
                else alone,
                alone=alone,
            )
    return LineModels(margin=fitted["margin"], total=fitted["total"])


def other_target(target: Target) -> Target:
    """The margin for the total and the other way round."""
    return "total" if target == "margin" else "margin"


def other_family(means: dict[str, np.ndarray], family: str) -> np.ndarray:
    """The other target's mean of the same family (its linear one if it has no such family)."""
    return means.get(family, means["linear"])


def combined_means(
    models: LineModels, frame: pd.DataFrame, features: list[str], inputs: pd.DataFrame | None = None
) -> dict[Target, dict[str, np.ndarray]]:
    """Each target's mean per family: the model's own, combined with the game's line where it
    has one (and the family was fitted with lines). `inputs`: `frame`'s winner inputs, where
    they are already built."""
    inputs = model_inputs(frame, features) if inputs is None else inputs
    means: dict[Target, dict[str, np.ndarray]] = {}
    for target in TARGETS:
        target_models = models.of(target)
        own = model_means(target_models, target_inputs(frame, features, target, inputs))
        line = line_mean(frame, target)
        means[target] = {}
        for family, mean in own.items():
            blend = target_models.families[family].with_line
            means[target][family] = blend.apply(mean, line) if blend else mean
    return means


def game_lines(frame: pd.DataFrame, target: Target) -> np.ndarray:
    """A target's line per game, as posted (NaN where a game has none)."""
    column, _ = LINES[target]
    if column not in frame:
        return np.full(len(frame), np.nan)
    return floats(frame, column)


def line_labels(frame: pd.DataFrame, target: Target) -> np.ndarray:
    """1 covered/over, 0 not, NaN for a push or no line or no result."""
    return line_result(outcome(frame, target), game_lines(frame, target), target)


def predict_lines(
    models: LineModels, frame: pd.DataFrame, features: list[str], inputs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per family: the predicted margin and total (`margin_<f>`, `total_<f>`: the fair spread
    and total, combined with the game's lines where it has them) and, where the game has
    lines, P(home covers) and P(over) given no push (`cover_<f>`, `over_<f>`); where it has
    opening lines too, the same priced at them with what was known then (`cover_<f>_open`,
    `over_<f>_open`: what a bettor at the open saw). `inputs`: `frame`'s winner inputs, where
    they are already built."""
    inputs = model_inputs(frame, features) if inputs is None else inputs
    means = combined_means(models, frame, features, inputs)
    out = pd.DataFrame(index=frame.index)
    for target in TARGETS:
        _, side = LINES[target]
        line = game_lines(frame, target)
        for family, mean in means[target].items():
            dist = models.of(target).families[family].distribution
            partner = other_family(means[other_target(target)], family)
            out[f"{target}_{family}"] = mean
            out[f"{side}_{family}"], _ = line_probabilities(dist, target, mean, partner, line)
    has_open = [t for t in TARGETS if opening_column(t) in frame]
    has_open = [t for t in has_open if frame[opening_column(t)].notna().any()]
    if has_open:  # priced at the opening lines with what was known then (no closing line)
        opening = frame.assign(
            **{LINES[t][0]: frame[opening_column(t)] if t in has_open else np.nan for t in TARGETS}
        )
        at_open = combined_means(models, opening, features, inputs)  # lines are no inputs
        for target in has_open:
            side, line = LINES[target][1], game_lines(opening, target)
            for family, mean in at_open[target].items():
                dist = models.of(target).families[family].distribution
                partner = other_family(at_open[other_target(target)], family)
                out[f"{side}_{family}_open"], _ = line_probabilities(
                    dist, target, mean, partner, line
                )
    return out


def opening_column(target: Target) -> str:
    """The contract column of a target's opening line."""
    return f"{LINES[target][0]}_open"


# What a served model gives for each game besides P(home win) (`price_lines`).
PRICE_COLUMNS = (
    "fair_spread",
    "fair_total",
    "p_cover",
    "p_push_spread",
    "p_over",
    "p_push_total",
)


def price_lines(
    models: LineModels, frame: pd.DataFrame, features: list[str], family: str
) -> pd.DataFrame:
    """What is served for each game: the fair spread (the home side's line in bookmaker's
    writing: minus the predicted margin) and the fair total, and at the game's posted lines
    P(home covers) and P(over) given no push, with the chance of a push (NaN without a line).
    `family`: the registered one where the line models have it, else their linear one."""
    means = combined_means(models, frame, features)
    chosen = family if family in means["margin"] else "linear"
    out = pd.DataFrame(index=frame.index)
    out["fair_spread"] = -means["margin"][chosen]
    out["fair_total"] = means["total"][chosen]
    named: tuple[tuple[Target, str], ...] = (("margin", "spread"), ("total", "total"))
    for target, name in named:
        dist = models.of(target).families[chosen].distribution
        partner = means[other_target(target)][chosen]
        side = LINES[target][1]
        out[f"p_{side}"], out[f"p_push_{name}"] = line_probabilities(
            dist, target, means[target][chosen], partner, game_lines(frame, target)
        )
    return out[list(PRICE_COLUMNS)]
