"""How good a win probability is, measured the way the field measures it.

Plain functions of arrays: probabilistic scores (log loss, Brier, AUC, accuracy, calibration
error with reliability-curve data), the market's vig-free probability from American moneylines,
and the results of a stated edge-threshold betting rule (ROI, profit, max drawdown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

EPS = 1e-15


def _clean(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of labels and probabilities, rows with a missing label or probability
    dropped (ties and unplayed games carry no label)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(p))
    return y[keep], np.clip(p[keep], EPS, 1 - EPS)


def per_game_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each game's negative log-likelihood (probabilities clipped to [EPS, 1 - EPS]); NaN where
    the label or the probability is missing."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def paired_bootstrap(
    diff: np.ndarray, samples: int, confidence: float, seed: int
) -> tuple[float, float, float]:
    """Mean of the per-game differences and its percentile bootstrap interval (games resampled
    with replacement, the same games for both models in every resample)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, diff.size, size=(samples, diff.size))
    means = diff[index].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(diff.mean()), float(low), float(high)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of the outcomes (games without a label or probability
    left out)."""
    return _log_loss(*_clean(y, p))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    return _brier(*_clean(y, p))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Share of games whose more likely side (p >= 0.5 for home) won."""
    return _accuracy(*_clean(y, p))


# The scores of arrays `_clean` has made (`scores` cleans once for all of them).
def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(per_game_log_loss(y, p)))


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p >= 0.5) == (y == 1)))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """AUC of cleaned arrays: the Mann-Whitney statistic (a tie counts half), which is the area
    under the ROC curve (as scikit-learn's `roc_auc_score`, without its input checks: about
    7 ms a call, and a training scores a few hundred segments)."""
    positives = float(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], ranked.size]
    ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # 1-based, ties averaged
    wins = ranks[y[order] == 1].sum() - positives * (positives + 1) / 2
    return float(wins / (positives * negatives))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    return _auc(*_clean(y, p))


def _bins(y: np.ndarray, p: np.ndarray, bins: int) -> tuple[np.ndarray, ...]:
    """Of cleaned arrays, per equal-width bin that holds a game: its number, games, mean
    prediction and observed rate."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    games = np.bincount(index, minlength=bins)
    held = np.flatnonzero(games)
    count = games[held]
    p_mean = np.bincount(index, weights=p, minlength=bins)[held] / count
    y_rate = np.bincount(index, weights=y, minlength=bins)[held] / count
    return held, count, p_mean, y_rate


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: games, mean predicted probability, observed win rate."""
    held, games, p_mean, y_rate = _bins(*_clean(y, p), bins)
    return pd.DataFrame(
        {"bin_low": held / bins, "games": games, "p_mean": p_mean, "y_rate": y_rate}
    )


def _ece(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    _, games, p_mean, y_rate = _bins(y, p, bins)
    if games.size == 0:
        return float("nan")
    return float((np.abs(y_rate - p_mean) * games).sum() / games.sum())


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Games-weighted mean |observed rate - mean prediction| over equal-width bins."""
    return _ece(*_clean(y, p), bins)


def scores(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Every probabilistic score for one set of predictions (games without a label or
    probability left out)."""
    y, p = _clean(y, p)
    return {
        "games": float(y.size),
        "log_loss": _log_loss(y, p),
        "brier": _brier(y, p),
        "auc": _auc(y, p),
        "accuracy": _accuracy(y, p),
        "ece": _ece(y, p, bins),
    }


def implied_probability(moneyline: np.ndarray) -> np.ndarray:
    """The bookmaker's implied probability of an American moneyline (margin included)."""
    line = np.asarray(moneyline, dtype=float)
    size = np.abs(line)  # both branches are evaluated: keep every denominator positive
    return np.where(line < 0, size / (size + 100), 100 / (size + 100))


def market_probability(home_ml: np.ndarray, away_ml: np.ndarray) -> np.ndarray:
    """The market's probability of a home win with the bookmaker margin removed
    (p = ph / (ph + pa)); NaN where either line is missing."""
    home, away = implied_probability(home_ml), implied_probability(away_ml)
    return home / (home + away)


def decimal_payout(moneyline: np.ndarray) -> np.ndarray:
    """Profit per unit staked when an American moneyline wins."""
    line = np.asarray(moneyline, dtype=float)
    return np.where(line < 0, 100 / -line, line / 100)


class BettingResult(BaseModel):
    """Results of flat one-unit bets placed by an edge-threshold rule."""

    edge: float
    games_with_odds: int
    bets: int
    profit: float
    roi: float
    max_drawdown: float


def betting_results(
    y: np.ndarray, p: np.ndarray, home_ml: np.ndarray, away_ml: np.ndarray, edge: float
) -> BettingResult:
    """Bet one unit on a side whenever the model's probability beats the market's vig-free
    probability for it by more than `edge`; games in the given (time) order."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    market = market_probability(home_ml, away_ml)
    usable = ~(np.isnan(y) | np.isnan(p) | np.isnan(market))
    home_bet = usable & (p - market > edge)
    away_bet = usable & ((1 - p) - (1 - market) > edge)
    profit = np.zeros(len(y))
    profit[home_bet] = np.where(y[home_bet] == 1, decimal_payout(home_ml)[home_bet], -1.0)
    profit[away_bet] = np.where(y[away_bet] == 0, decimal_payout(away_ml)[away_bet], -1.0)
    bets = int(home_bet.sum() + away_bet.sum())
    equity = np.cumsum(profit)
    drawdown = np.maximum.accumulate(np.concatenate([[0.0], equity]))[1:] - equity
    return BettingResult(
        edge=edge,
        games_with_odds=int(usable.sum()),
        bets=bets,
        profit=float(equity[-1]) if len(equity) else 0.0,
        roi=float(profit.sum() / bets) if bets else float("nan"),
        max_drawdown=float(drawdown.max()) if len(drawdown) else 0.0,
    )


class ClosingLineValue(BaseModel):
    """Bets placed at the opening price by the edge rule, measured against the closing line:
    a bet's CLV is its opening decimal odds over the vig-free closing odds of its side, minus 1
    (positive: the price taken was better than where the market settled)."""

    edge: float
    games_with_both_lines: int
    bets: int
    mean_clv: float
    beat_close_share: float
    roi: float


def closing_line_value(
    y: np.ndarray,
    p: np.ndarray,
    opening: tuple[np.ndarray, np.ndarray],
    closing: tuple[np.ndarray, np.ndarray],
    edge: float,
) -> ClosingLineValue:
    """Bet one unit on a side whenever the model beats the opening line's vig-free probability
    by more than `edge` (what a bettor acting on the model's early number could take); score
    each bet by closing-line value and by its result at the opening price."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    (home_open, away_open), (home_close, away_close) = opening, closing
    market_open = market_probability(home_open, away_open)
    market_close = market_probability(home_close, away_close)
    usable = ~(np.isnan(p) | np.isnan(market_open) | np.isnan(market_close))
    home_bet = usable & (p - market_open > edge)
    away_bet = usable & ((1 - p) - (1 - market_open) > edge)
    # Decimal odds taken times the fair closing probability of that side, minus 1.
    clv = np.full(len(p), np.nan)
    clv[home_bet] = (1 + decimal_payout(home_open)[home_bet]) * market_close[home_bet] - 1
    clv[away_bet] = (1 + decimal_payout(away_open)[away_bet]) * (1 - market_close[away_bet]) - 1
    settled = (home_bet | away_bet) & ~np.isnan(y)
    profit = np.where(
        home_bet,
        np.where(y == 1, decimal_payout(home_open), -1.0),
        np.where(y == 0, decimal_payout(away_open), -1.0),
    )
    bets = home_bet | away_bet
    return ClosingLineValue(
        edge=edge,
        games_with_both_lines=int(usable.sum()),
        bets=int(bets.sum()),
        mean_clv=float(np.nanmean(clv)) if bets.any() else float("nan"),
        beat_close_share=float(np.mean(clv[bets] > 0)) if bets.any() else float("nan"),
        roi=float(profit[settled].mean()) if settled.any() else float("nan"),
    )


def prediction_columns(frame: pd.DataFrame) -> list[str]:
    """The probability columns of out-of-fold predictions (p_<model>)."""
    return [c for c in frame.columns if c.startswith("p_")]


def family_scores(frame: pd.DataFrame, label: str = "home_win") -> dict[str, float]:
    """Scores of every model, baseline and the market (p_* columns) as flat metric names.

    A column without a value for some games (the market and the market variant, where odds
    are missing) is scored on the games it has, with its own `<name>_games`; then every column
    is also scored on exactly those priced games (`<name>_log_loss_priced`), so the models and
    the market are compared on the same games.
    """
    y = frame[label].to_numpy(dtype=float)
    out: dict[str, float] = {"games": float(np.sum(~np.isnan(y)))}
    for column in prediction_columns(frame):
        name = column[2:]
        p = frame[column].to_numpy(dtype=float)
        if np.isnan(p).all():  # no game has this prediction (the market without odds)
            continue
        values = scores(y, p)
        if values["games"] != out["games"]:
            out[f"{name}_games"] = values["games"]
        out.update({f"{name}_{k}": v for k, v in values.items() if k != "games"})
    if "p_market" in frame:
        priced = frame["p_market"].notna().to_numpy()
        out["priced_games"] = float(np.sum(priced & ~np.isnan(y)))
        if priced.any():
            for column in prediction_columns(frame):
                out[f"{column[2:]}_log_loss_priced"] = log_loss(
                    y[priced], frame[column].to_numpy(dtype=float)[priced]
                )
    return out


def scores_by(frame: pd.DataFrame, by: str, label: str = "home_win") -> pd.DataFrame:
    """`family_scores` of each value of `by` (one row each); a metric a group lacks (the
    market in a season without odds) is NaN there."""
    rows = {key: family_scores(part, label) for key, part in frame.groupby(by, sort=True)}
    return pd.DataFrame.from_dict(rows, orient="index")


def betting_metrics(
    frame: pd.DataFrame, columns: list[str], edge: float, label: str = "home_win"
) -> dict[str, float]:
    """The edge-threshold betting rule's results for each probability column, games in time
    order (`<name>_bet_roi`, `_bet_profit`, `_bet_count`, `_bet_max_drawdown`)."""
    if "home_ml" not in frame:
        return {}
    ordered = frame.sort_values("event_timestamp", kind="stable")
    out: dict[str, float] = {}
    for column in columns:
        result = betting_results(
            ordered[label].to_numpy(dtype=float),
            ordered[column].to_numpy(dtype=float),
            ordered["home_ml"].to_numpy(dtype=float, na_value=np.nan),
            ordered["away_ml"].to_numpy(dtype=float, na_value=np.nan),
            edge,
        )
        if result.games_with_odds == 0:
            continue
        name = column[2:]
        out[f"{name}_bet_count"] = float(result.bets)
        out[f"{name}_bet_profit"] = result.profit
        out[f"{name}_bet_roi"] = result.roi
        out[f"{name}_bet_max_drawdown"] = result.max_drawdown
    if "home_ml_open" in frame:  # not the market variant: it takes the closing line as input
        out.update(clv_metrics(ordered, [c for c in columns if c != "p_with_market"], edge, label))
    return out


def _lines(frame: pd.DataFrame, suffix: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        frame[f"home_ml{suffix}"].to_numpy(dtype=float, na_value=np.nan),
        frame[f"away_ml{suffix}"].to_numpy(dtype=float, na_value=np.nan),
    )


def clv_metrics(
    frame: pd.DataFrame, columns: list[str], edge: float, label: str = "home_win"
) -> dict[str, float]:
    """Closing-line value of each probability column's bets at the opening price, on games
    with both lines (`<name>_clv_bets`, `_clv_mean`, `_clv_beat_share`, `_clv_open_roi`), and
    how much sharper the closing line was than the opening one (`market_open_log_loss_both_lines`,
    `market_close_log_loss_both_lines`)."""
    opening, closing = _lines(frame, "_open"), _lines(frame, "")
    lines = ~(np.isnan(market_probability(*opening)) | np.isnan(market_probability(*closing)))
    if not lines.any():  # no game has both lines: nothing to measure
        return {}
    y = frame[label].to_numpy(dtype=float)
    out: dict[str, float] = {}
    for column in columns:
        result = closing_line_value(y, frame[column].to_numpy(dtype=float), opening, closing, edge)
        if result.games_with_both_lines == 0:  # this column predicts none of those games
            continue
        name = column[2:]
        out[f"{name}_clv_bets"] = float(result.bets)
        out[f"{name}_clv_mean"] = result.mean_clv
        out[f"{name}_clv_beat_share"] = result.beat_close_share
        out[f"{name}_clv_open_roi"] = result.roi
    both = lines & ~np.isnan(y)
    out["both_lines_games"] = float(both.sum())
    if both.any():
        out["market_open_log_loss_both_lines"] = log_loss(
            y[both], market_probability(*opening)[both]
        )
        out["market_close_log_loss_both_lines"] = log_loss(
            y[both], market_probability(*closing)[both]
        )
    return out


def segments(frame: pd.DataFrame) -> pd.DataFrame:
    """Segment labels per game: season, home favourite or underdog (by the market where it has
    a price, else by the home-rate-free Elo baseline), back-to-back, playoffs."""
    out = pd.DataFrame(index=frame.index)
    out["season"] = frame["season"].astype(str)
    if "p_market" in frame:
        reference = frame["p_market"].fillna(frame.get("p_elo", np.nan))
    else:
        reference = frame.get("p_elo", pd.Series(np.nan, index=frame.index))
    out["home_side"] = np.where(reference >= 0.5, "favourite", "underdog")
    out.loc[reference.isna(), "home_side"] = "unknown"
    if "home_back_to_back" in frame:
        home_b2b = frame["home_back_to_back"].fillna(0).astype(bool)
        away_b2b = frame["away_back_to_back"].fillna(0).astype(bool)
        out["back_to_back"] = np.select(
            [home_b2b & away_b2b, home_b2b, away_b2b], ["both", "home", "away"], "neither"
        )
    if "playoff" in frame:
        out["stage"] = np.where(frame["playoff"].fillna(False).astype(bool), "playoff", "regular")
    return out


def segment_table(frame: pd.DataFrame, columns: list[str], label: str = "home_win") -> pd.DataFrame:
    """Scores of each probability column within every segment value (one row per segment,
    value and column)."""
    labels = segments(frame)
    rows = []
    for segment in labels.columns:
        for value, part in frame.groupby(labels[segment], sort=True):
            y = part[label].to_numpy(dtype=float)
            for column in columns:
                rows.append(
                    {
                        "segment": segment,
                        "value": value,
                        "model": column[2:],
                        **scores(y, part[column].to_numpy(dtype=float)),
                    }
                )
    return pd.DataFrame(rows)
