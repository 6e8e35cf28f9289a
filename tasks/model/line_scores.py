"""The margin and total models scored against the bookmaker's lines, out of fold.

A closing line is priced so that each side wins about half the time: a coin at the line scores
log loss ln 2 = 0.6931 on P(cover) and P(over), and 50% accuracy against the spread. A model
that knows no more than the line sits within a few thousandths of it; clearly worse means its
distribution is wrong. Betting either side at the usual -110 pays 100/110 of the stake, so a
side has to win 110/210 = 52.4% of settled bets to break even.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gameline.tasks.model.metrics import scores
from gameline.tasks.model.targets import (
    FAMILIES,
    LINES,
    TARGETS,
    game_lines,
    line_labels,
    line_result,
    opening_column,
    outcome,
)

COIN = float(np.log(2))
# American -110: a winning bet returns 100/110 of its stake; break-even 110/210.
PAYOUT_110 = 100 / 110
BREAK_EVEN_110 = 110 / 210


def line_family(frame: pd.DataFrame, family: str) -> str | None:
    """The margin and total family reported beside the winner's registered `family`: the same
    family where the line models have it, else their linear one (None: no line models)."""
    for candidate in (family, "linear"):
        if f"margin_{candidate}" in frame:
            return candidate
    return None


def bets_at_110(y: np.ndarray, p: np.ndarray, edge: float) -> tuple[int, float]:
    """(settled bets, return per unit) of one-unit bets at -110 on the side whose probability
    clears the break-even by `edge`; pushes and games without a line are not bets."""
    usable = ~(np.isnan(y) | np.isnan(p))
    take_yes = usable & (p > BREAK_EVEN_110 + edge)
    take_no = usable & (1 - p > BREAK_EVEN_110 + edge)
    won = (take_yes & (y == 1)) | (take_no & (y == 0))
    bets = int(take_yes.sum() + take_no.sum())
    profit = PAYOUT_110 * won.sum() - (bets - won.sum())
    return bets, float(profit / bets) if bets else float("nan")


def line_scores(frame: pd.DataFrame, edge: float = 0.0) -> dict[str, float]:
    """Every family's out-of-fold scores on both targets, as flat metric names:
    `<side>_<family>_log_loss`, `_brier`, `_accuracy`, `_ece`, `_bets`, `_roi_110` on games with
    a line that did not push (`<side>_games`, `<side>_pushes`), and the mean's error in points
    (`<target>_<family>_rmse`) beside the line's own (`<target>_line_rmse`: the spread or total
    taken as the predicted margin or total)."""
    out: dict[str, float] = {}
    for target in TARGETS:
        line_column, side = LINES[target]
        if line_column not in frame:
            continue
        y = line_labels(frame, target)
        values = outcome(frame, target)
        line = game_lines(frame, target)
        lined = ~np.isnan(line) & ~np.isnan(values)
        if not lined.any():
            continue
        out[f"{side}_games"] = float(np.sum(~np.isnan(y)))
        out[f"{side}_pushes"] = float(np.sum(lined & np.isnan(y)))
        market_mean = -line if target == "margin" else line
        out[f"{target}_line_rmse"] = float(np.sqrt(np.mean((values - market_mean)[lined] ** 2)))
        for family in FAMILIES:
            column = f"{side}_{family}"
            if column not in frame:
                continue
            p = frame[column].to_numpy(dtype="float64", na_value=np.nan)
            found = scores(y, p)
            out.update({f"{column}_{k}": v for k, v in found.items() if k != "games"})
            out[f"{column}_bets"], out[f"{column}_roi_110"] = bets_at_110(y, p, edge)
            mean = frame[f"{target}_{family}"].to_numpy(dtype="float64", na_value=np.nan)
            known = ~np.isnan(values) & ~np.isnan(mean)
            out[f"{target}_{family}_rmse"] = float(np.sqrt(np.mean((values - mean)[known] ** 2)))
    return out


def line_clv(frame: pd.DataFrame, edge: float = 0.0) -> dict[str, float]:
    """Closing-line value of spread and total bets taken at the opening lines, where a game has
    both: a family bets one unit at -110 on the side its probability at the opening line
    (`<side>_<family>_open`) backs beyond the break-even by `edge`, and each bet is measured by
    the points the line then moved in its favour (`_clv_points`, mean; `_clv_beat_share`, the
    share that beat the close) and settled at the opening line (`_clv_open_roi`)."""
    out: dict[str, float] = {}
    for target in TARGETS:
        line_column, side = LINES[target]
        open_column = opening_column(target)
        if open_column not in frame or line_column not in frame:
            continue
        opening = frame[open_column].to_numpy(dtype="float64", na_value=np.nan)
        closing = game_lines(frame, target)
        both = ~np.isnan(opening) & ~np.isnan(closing)
        if not both.any():
            continue
        out[f"{side}_both_lines_games"] = float(both.sum())
        # Points the line moved toward the "yes" side (home covers, over) after the open: a
        # home bet at -3 when it closes at -4.5 holds 1.5 points of value; an over at 210 that
        # closes at 212, 2.
        moved = np.where(both, closing - opening, np.nan) * (-1 if target == "margin" else 1)
        y_open = line_result(outcome(frame, target), opening, target)
        for family in FAMILIES:
            column = f"{side}_{family}_open"
            if column not in frame:
                continue
            p = np.where(both, frame[column].to_numpy(dtype="float64", na_value=np.nan), np.nan)
            yes = p > BREAK_EVEN_110 + edge
            no = (1 - p) > BREAK_EVEN_110 + edge
            value = np.concatenate([moved[yes], -moved[no]])
            key = f"{side}_{family}"
            out[f"{key}_clv_bets"] = float(value.size)
            out[f"{key}_clv_points"] = float(value.mean()) if value.size else float("nan")
            out[f"{key}_clv_beat_share"] = float(np.mean(value > 0)) if value.size else float("nan")
            out[f"{key}_clv_open_roi"] = bets_at_110(y_open, p, edge)[1]
    return out


def line_scores_by(frame: pd.DataFrame, by: str, edge: float = 0.0) -> pd.DataFrame:
    """`line_scores` of each value of `by` (a season, a segment), one row each."""
    rows = {key: line_scores(part, edge) for key, part in frame.groupby(by, sort=True)}
    return pd.DataFrame.from_dict(rows, orient="index")


def line_segments(frame: pd.DataFrame, family: str) -> pd.DataFrame:
    """P(cover) and P(over) of `family` within segments: the season, the stage (regular or
    playoff) and the home side by the spread (favourite, underdog, pick'em); one row per
    segment, value and side, with games, log loss, accuracy and ECE."""
    labels = pd.DataFrame(index=frame.index)
    labels["season"] = frame["season"].astype(str)
    if "playoff" in frame:
        playoff = frame["playoff"].fillna(False).astype(bool)
        labels["stage"] = np.where(playoff, "playoff", "regular")
    spread = frame["home_spread"].to_numpy(dtype="float64", na_value=np.nan)
    labels["home_side"] = np.select(
        [spread < 0, spread > 0, spread == 0], ["favourite", "underdog", "pick"], "no line"
    )
    rows = []
    for segment in labels.columns:
        for value, part in frame.groupby(labels[segment], sort=True):
            for side, target in (("cover", "margin"), ("over", "total")):
                column = f"{side}_{family}"
                if column not in part:
                    continue
                y, p = line_labels(part, target), part[column].to_numpy(dtype=float)
                if np.isnan(y + p).all():  # no game with a result at a line: nothing to score
                    continue
                found = scores(y, p)
                rows.append({"segment": segment, "value": value, "side": side, **found})
    return pd.DataFrame(rows)
