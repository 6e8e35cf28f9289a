"""Live performance: the predictions the champion actually served, scored once their games are
final, against what its backtest promised and against the Elo baseline on the same games, with
sequential tests that raise an alarm on a lasting degradation and stay quiet on noise."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import EloConfig, MonitorConfig
from gameline.tasks.model.metrics import expected_calibration_error, log_loss, per_game_log_loss
from gameline.tasks.model.targets import line_labels
from gameline.tasks.monitoring.sequential import CusumResult, cusum, standardized_residuals
from gameline.tasks.serving.predictions import served_results


def served_outcomes(
    predictions: pd.DataFrame, games: pd.DataFrame, version: str, now: datetime
) -> pd.DataFrame:
    """Each game's latest served prediction by `version` for games that started before `now`,
    with its result (y) once final, in start order."""
    served = served_results(predictions, games)
    if served.empty:  # nothing served yet
        columns = ["game_id", "start_time", "p_home", "model_version", "y"]
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c == "game_id" else float) for c in columns}
        )
    mine = served[
        (served["model_version"].astype(str) == str(version))
        & (served["start_time"] < pd.Timestamp(now))
    ]
    return mine.sort_values("start_time", kind="stable").reset_index(drop=True)


def elo_probability(rows: pd.DataFrame, elo: EloConfig) -> np.ndarray:
    """The Elo baseline's own probability of a home win from the games' features: the rating
    difference plus the home edge (none at a neutral site)."""
    if elo.home_advantage_mode == "point_in_time":
        edge = elo.elo_per_point * rows["home__league_home_margin"].to_numpy(dtype=float)
    else:
        edge = np.full(len(rows), elo.home_advantage)
    edge = np.where(rows["neutral"].to_numpy(dtype=bool), 0.0, edge)
    diff = (
        rows["home__elo_pre"].to_numpy(dtype=float)
        + edge
        - rows["away__elo_pre"].to_numpy(dtype=float)
    )
    return 1 / (1 + np.power(10.0, -diff / 400))


class LineCalibration(BaseModel):
    """How the served P(cover) or P(over) did on finished games with a line that did not push:
    scores, and CUSUMs of the probability too high and too low (as for the home win)."""

    side: str
    games: int
    log_loss: float
    ece: float
    mean_residual: float
    over_prediction: CusumResult
    under_prediction: CusumResult

    @property
    def alarm(self) -> bool:
        return self.over_prediction.alarm or self.under_prediction.alarm


def served_line_results(outcomes: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """`outcomes` with each finished game's result at the line it was served with: `y_cover`
    and `y_over` (1/0; NaN for a push, no line or no result yet)."""
    out = outcomes.copy()
    finals = games[games["status"] == "final"] if len(games) else games
    scores = finals.set_index(finals["game_id"].astype(str))[["home_score", "away_score"]]
    scored = scores.reindex(out["game_id"].astype(str)).astype("float64")
    at_lines = out.assign(
        home_score=scored["home_score"].to_numpy(), away_score=scored["away_score"].to_numpy()
    )
    for side, target in (("cover", "margin"), ("over", "total")):
        out[f"y_{side}"] = line_labels(at_lines, target)
    return out


def line_calibration(outcomes: pd.DataFrame, cfg: MonitorConfig) -> dict[str, LineCalibration]:
    """P(cover) and P(over) as served, on finished games in start order (`served_line_results`
    columns); a side with fewer than `min_games` judged games is left out."""
    out = {}
    for side in ("cover", "over"):
        if f"p_{side}" not in outcomes or f"y_{side}" not in outcomes:
            continue
        y = outcomes[f"y_{side}"].to_numpy(dtype=float)
        p = outcomes[f"p_{side}"].to_numpy(dtype=float, na_value=np.nan)
        judged = ~(np.isnan(y) | np.isnan(p))
        if judged.sum() < cfg.min_games:
            continue
        y, p = y[judged], p[judged]
        times = outcomes["start_time"][judged]
        z = standardized_residuals(y, p)
        out[side] = LineCalibration(
            side=side,
            games=int(judged.sum()),
            log_loss=log_loss(y, p),
            ece=expected_calibration_error(y, p),
            mean_residual=float(np.mean(y - p)),
            over_prediction=cusum(-z, times, cfg.cusum_k, cfg.cusum_h),
            under_prediction=cusum(z, times, cfg.cusum_k, cfg.cusum_h),
        )
    return out


class Performance(BaseModel):
    """How the champion's served predictions did on the games that have finished."""

    status: Literal["ok", "not enough data"]
    detail: str = ""
    champion_version: str | None
    games: int
    first_game: datetime | None = None
    last_game: datetime | None = None
    served_log_loss: float | None = None
    promised_log_loss: float | None = None
    elo_log_loss: float | None = None
    ece: float | None = None
    mean_residual: float | None = None
    over_prediction: CusumResult | None = None
    under_prediction: CusumResult | None = None
    excess_loss: CusumResult | None = None
    degraded: bool = False
    lines: dict[str, LineCalibration] = {}


def live_performance(
    outcomes: pd.DataFrame,
    p_elo: np.ndarray,
    promised: float | None,
    version: str | None,
    cfg: MonitorConfig,
) -> Performance:
    """Scores of the served probabilities on finished games and three CUSUMs in start order:
    the home-win probability too high, too low (standardized residuals), and the per-game log
    loss above the backtest's promise. Degraded when any of them alarms."""
    done = outcomes["y"].notna().to_numpy() if len(outcomes) else np.zeros(0, dtype=bool)
    finished = outcomes[done]
    base = Performance(status="not enough data", champion_version=version, games=len(finished))
    if len(finished) < cfg.min_games:
        return base.model_copy(
            update={"detail": f"{len(finished)} finished served games; need {cfg.min_games}"}
        )
    y, p = finished["y"].to_numpy(dtype=float), finished["p_home"].to_numpy(dtype=float)
    times = finished["start_time"]
    z = standardized_residuals(y, p)
    losses = per_game_log_loss(y, p)
    excess = (
        cusum(losses - promised, times, cfg.loss_k, cfg.loss_h) if promised is not None else None
    )
    over = cusum(-z, times, cfg.cusum_k, cfg.cusum_h)
    under = cusum(z, times, cfg.cusum_k, cfg.cusum_h)
    return base.model_copy(
        update={
            "status": "ok",
            "first_game": times.min().to_pydatetime(),
            "last_game": times.max().to_pydatetime(),
            "served_log_loss": log_loss(y, p),
            "promised_log_loss": promised,
            "elo_log_loss": log_loss(y, p_elo[done]),
            "ece": expected_calibration_error(y, p),
            "mean_residual": float(np.mean(y - p)),
            "over_prediction": over,
            "under_prediction": under,
            "excess_loss": excess,
            "degraded": over.alarm or under.alarm or bool(excess and excess.alarm),
            "lines": line_calibration(finished, cfg),
        }
    )
