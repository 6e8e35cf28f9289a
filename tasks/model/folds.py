"""Walk-forward folds: an expanding window by season (optionally split into date blocks), and
the inner time split that holds out the latest training games for early stopping and
calibration. Nothing random: every split is by start time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gameline.tasks.config import TrainConfig
from gameline.tasks.contracts import LABEL, SPREAD_COLUMNS, TOTAL_COLUMNS


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on `train_seasons` (and, with date blocks, the games of the
    test season that started `BLOCK_GAP` or more before `test_start`); test on the games of
    `test_season` that start in [test_start, test_end)."""

    number: int
    test_season: int
    train_seasons: tuple[int, ...]
    block: int = 0
    test_start: pd.Timestamp | None = None
    test_end: pd.Timestamp | None = None


# With date blocks, a test-season game trains a later block only if it started this long before
# the block's first game: long enough for any game to have ended, so its result was known.
BLOCK_GAP = pd.Timedelta(hours=12)


def season_folds(
    seasons: np.ndarray, cfg: TrainConfig, starts: pd.Series | None = None
) -> list[Fold]:
    """Expanding-window folds: every test season with at least `min_train_seasons` before it,
    split into `cfg.date_blocks` blocks of consecutive games (needs the games' `starts`)."""
    unique = sorted({int(s) for s in seasons})
    eligible = unique[cfg.min_train_seasons :]
    tests = [
        s
        for s in eligible
        if (cfg.first_test_season is None or s >= cfg.first_test_season)
        and (cfg.last_test_season is None or s <= cfg.last_test_season)
    ]
    if cfg.date_blocks > 1 and starts is None:
        raise ValueError("date blocks need the games' start times")
    folds: list[Fold] = []
    for season in tests:
        before = tuple(t for t in unique if t < season)
        if cfg.date_blocks == 1 or starts is None:
            folds.append(Fold(number=len(folds), test_season=season, train_seasons=before))
            continue
        times = pd.Series(starts.to_numpy()[np.asarray(seasons) == season]).sort_values()
        edges = [times.iloc[int(len(times) * b / cfg.date_blocks)] for b in range(cfg.date_blocks)]
        for block, start in enumerate(edges):
            end = edges[block + 1] if block + 1 < len(edges) else None
            folds.append(
                Fold(len(folds), season, before, block=block, test_start=start, test_end=end)
            )
    return folds


def fold_frames(played: pd.DataFrame, fold: Fold) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training games, test games) of a fold, from finished games with a label."""
    seasons = played["season"]
    train_mask = seasons.isin(fold.train_seasons)
    test_mask = seasons == fold.test_season
    if fold.test_start is not None:
        starts = played["event_timestamp"]
        train_mask |= test_mask & (starts <= fold.test_start - BLOCK_GAP)
        test_mask &= starts >= fold.test_start
        if fold.test_end is not None:
            test_mask &= starts < fold.test_end
    return played[train_mask], played[test_mask]


def inner_split(start_times: pd.Series, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) boolean masks: the latest `share` of games by start time validates."""
    cutoff = start_times.quantile(1 - share)
    valid = (start_times > cutoff).to_numpy()
    return ~valid, valid


# What the margin and total targets are scored with: the scores and the lines.
OOF_TARGET_COLUMNS = ("home_score", "away_score", *SPREAD_COLUMNS, *TOTAL_COLUMNS)


def oof_columns(test: pd.DataFrame, fold: Fold) -> pd.DataFrame:
    """The identifying columns of out-of-fold predictions."""
    return pd.DataFrame(
        {
            "game_id": test["game_id"],
            "season": test["season"],
            "event_timestamp": test["event_timestamp"],
            "home_team": test["home_team"],
            "away_team": test["away_team"],
            "neutral": test["neutral"],
            LABEL: test[LABEL],
            "home_ml": test["home_ml"],
            "away_ml": test["away_ml"],
            "home_ml_open": test.get("home_ml_open", np.nan),
            "away_ml_open": test.get("away_ml_open", np.nan),
            **{c: test.get(c, np.nan) for c in OOF_TARGET_COLUMNS},
            "playoff": test.get("playoff", False),
            "home_back_to_back": test.get("home__back_to_back", np.nan),
            "away_back_to_back": test.get("away__back_to_back", np.nan),
            "fold": fold.number,
            "block": fold.block,
        }
    )
