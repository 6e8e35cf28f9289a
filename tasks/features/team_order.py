"""Team-games in team order (each team's rows together, in time order): putting them in that
order, each row's team's first row, rolling sums and means over a team's last rows, a value
carried over to a team's later rows, and a frame put back in time order. Plain NumPy on
positions: grouping 2M team-games by team in pandas factorizes the teams again every time."""

from __future__ import annotations

import numpy as np
import pandas as pd


def team_starts(codes: np.ndarray) -> np.ndarray:
    """Per row, the position of its team's first row (each team's rows together and in order,
    as `in_team_order` puts them): what the windows and game counts below are taken from."""
    n = len(codes)
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]])) if n else codes
    return np.repeat(starts, np.diff(np.append(starts, n)))


class TeamWindows:
    """Sums and means over each team's last `window` rows, the current one included, for rows
    in team order (`in_team_order`: each team's rows together). `first`: each row's team's
    first row (`team_starts`). A window is a difference of one running total (exact for the
    whole numbers and halves summed here: wins, margins, points), and each window's first row
    is found once for every column summed over it. (Summed with its gaps, a running total was
    missing at a gap, and `window` rows later the window took the team's whole history.)"""

    def __init__(self, first: np.ndarray) -> None:
        self.first = first
        self._row = np.arange(len(first))
        self._low: dict[int, np.ndarray] = {}

    def low(self, window: int) -> np.ndarray:
        """Per row, its window's first row."""
        if window not in self._low:
            self._low[window] = np.maximum(self.first, self._row - window + 1)
        return self._low[window]

    def length(self, window: int) -> np.ndarray:
        """Per row, how many rows its window holds: min(the team's rows so far, `window`)."""
        return self._row - self.low(window) + 1

    def sums(self, values: pd.Series, window: int) -> pd.Series:
        """Sum of the last `window` values per team; a missing value adds nothing."""
        given = values.to_numpy(dtype="float64", na_value=np.nan)
        total = np.zeros(len(given) + 1)  # total[i]: the sum of the first i values
        np.cumsum(np.where(np.isnan(given), 0.0, given), out=total[1:])
        return pd.Series(total[1:] - total[self.low(window)], index=values.index)

    def means(self, values: pd.Series, window: int) -> pd.Series:
        """Mean of the values known among a team's last `window` (a result known only by who
        won has no margin or points), NaN where none is."""
        if values.isna().any():
            known = self.sums(values.notna().astype("float64"), window)
        else:
            known = pd.Series(self.length(window).astype("float64"), index=values.index)
        return self.sums(values, window) / known.where(known > 0)


def carried_over(values: np.ndarray, rows: np.ndarray, first: np.ndarray) -> np.ndarray:
    """`values` given on `rows` (positions, ascending) of a frame in team order, on every row:
    each row takes its team's latest value at or before it (NaN before the team's first).
    What a forward fill grouped by team gives, by positions (the group-by factorized the
    teams of 2M rows again)."""
    n = len(first)
    at = np.full(n, -1)
    at[rows] = np.arange(len(rows))
    latest = np.maximum.accumulate(np.where(at >= 0, np.arange(n), -1))  # latest given row
    out = np.full(n, np.nan)
    has = (latest >= 0) & (latest >= first)  # and it is the same team's
    out[has] = values[at[latest[has]]]
    return out


def in_team_order(
    tg: pd.DataFrame, rows: np.ndarray, time: str, columns: list[str]
) -> pd.DataFrame:
    """The `columns` of team-games `rows` (positions in `tg`), each team's in `time` order, then
    game order: `tg.iloc[rows].sort_values(["team", time, "game"], kind="stable")`, sorted on
    three NumPy keys and taking only the columns asked for (a million games: a sort of the
    whole frame moved 18 columns of 2M rows)."""
    keys = [
        tg[c].to_numpy(dtype="datetime64[us]" if c == time else None)[rows]
        for c in ("game", time, "team")
    ]
    order = rows[np.lexsort(keys)]
    taken = {c: tg[c].array.take(order) for c in columns}
    return pd.DataFrame(taken, index=tg.index[order], copy=False)


def sorted_by_time(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`frame.sort_values(column, kind="stable")` of a frame this module built and no longer
    needs, column by column, each one let go once its sorted copy is made: a sort of the whole
    frame holds both copies at once (2M team-game states: 300 MB)."""
    order = np.argsort(frame[column].to_numpy(dtype="datetime64[us]"), kind="stable")
    index = frame.index[order]
    out = {}
    for name in list(frame.columns):
        out[name] = frame[name].array.take(order)
        del frame[name]
    return pd.DataFrame(out, index=index, copy=False)
