"""Point spreads as the contract keeps them: the home side's line, as a bookmaker writes it.

Files write spreads three ways: the home team's line (-5.5: home favoured by 5.5), the away
team's (+5.5 for the same game), or the favourite's, unsigned (5.5 and a column saying who is
favoured). `home_spread` turns each into the home side's line; `spread_check` checks the result
against the scores of finished games, so a file read the wrong way round is refused by name
instead of training a model on lines that say the opposite of what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPREAD_CONVENTIONS = ("home", "away", "favourite")
HOME_WORDS = {"home", "h", "1", "true", "yes"}
AWAY_WORDS = {"away", "a", "visitor", "road", "0", "false", "no"}
# The check needs this many decided games with a line before it judges a file.
MIN_CHECKED_GAMES = 30


def home_spread(
    spread: pd.Series,
    convention: str,
    favourite: pd.Series | None = None,
    home_ml: pd.Series | None = None,
    away_ml: pd.Series | None = None,
) -> pd.Series:
    """The home side's line from a file's spread column written in `convention`.

    "favourite": the line's size is the favourite's; who is favoured comes from `favourite`
    (home/away words) or else from the moneylines (the shorter price). A game whose favourite
    cannot be told gets no line (null), never a guessed sign; a line of 0 needs no favourite.
    """
    values = spread.astype("Float64")
    if convention == "home":
        return values
    if convention == "away":
        return -values
    if convention != "favourite":
        raise ValueError(f"spread convention {convention!r} is not one of {SPREAD_CONVENTIONS}")
    size = values.abs()
    if favourite is not None:
        word = favourite.astype("string").str.strip().str.lower()
        home_fav = word.isin(HOME_WORDS).fillna(False).to_numpy(dtype=bool)
        away_fav = word.isin(AWAY_WORDS).fillna(False).to_numpy(dtype=bool)
    elif home_ml is not None and away_ml is not None:
        home_fav = (home_ml < away_ml).fillna(False).to_numpy(dtype=bool)
        away_fav = (home_ml > away_ml).fillna(False).to_numpy(dtype=bool)
    else:
        home_fav = away_fav = np.zeros(len(values), dtype=bool)
    sign = np.where(home_fav, -1.0, np.where(away_fav, 1.0, np.nan))
    sign = np.where(size.fillna(1.0).to_numpy(dtype=float) == 0, 0.0, sign)
    signed = size.astype("float64").to_numpy() * sign
    return pd.Series(signed, index=values.index, dtype="Float64")


@dataclass(frozen=True)
class SpreadCheck:
    """How the spread's favourite fared in finished games with a line and a winner."""

    games: int
    favourite_won: float  # share of those games the favourite by the line won

    @property
    def reversed(self) -> bool:
        """True when the line reads the wrong way round (its favourite lost most games)."""
        return self.games >= MIN_CHECKED_GAMES and self.favourite_won < 0.5


def spread_check(spread: pd.Series, home_score: pd.Series, away_score: pd.Series) -> SpreadCheck:
    """Compare the home side's line with the results: favourites by a correct line win about
    two games in three in every sport (a coin-flip share or less means the sign is reversed)."""
    line = spread.astype("float64").to_numpy()
    margin = (home_score.astype("float64") - away_score.astype("float64")).to_numpy()
    decided = ~np.isnan(line) & ~np.isnan(margin) & (line != 0) & (margin != 0)
    if not decided.any():
        return SpreadCheck(games=0, favourite_won=float("nan"))
    won = np.sign(-line[decided]) == np.sign(margin[decided])
    return SpreadCheck(games=int(decided.sum()), favourite_won=float(won.mean()))


def guess_convention(
    spread: pd.Series,
    home_score: pd.Series,
    away_score: pd.Series,
    favourite: pd.Series | None,
    home_ml: pd.Series | None,
    away_ml: pd.Series | None,
) -> tuple[str, str]:
    """How a file writes its spread (`SPREAD_CONVENTIONS`), and a sentence saying how that was
    told: unsigned lines are the favourite's; signed ones are read as the home side's and
    turned when the results say they are the away side's."""
    values = spread.astype("Float64")
    if values.notna().any() and bool((values.dropna() >= 0).all()):
        told = "a favourite column" if favourite is not None else "the moneylines"
        if favourite is None and (home_ml is None or away_ml is None):
            told = "nothing: no favourite column and no moneylines, so no game gets a line"
        return "favourite", f"the favourite's line (never negative); who is favoured from {told}"
    check = spread_check(values, home_score, away_score)
    if check.reversed:
        turned = spread_check(-values, home_score, away_score)
        return "away", (
            f"the away side's line: read as the home side's, its favourites won only "
            f"{check.favourite_won:.0%} of {check.games} games; turned round, "
            f"{turned.favourite_won:.0%}"
        )
    if check.games == 0:
        return "home", "read as the home side's line (no finished game with a line to check it)"
    return "home", (
        f"the home side's line: its favourites won {check.favourite_won:.0%} of {check.games} games"
    )
