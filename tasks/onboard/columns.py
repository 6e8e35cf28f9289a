"""Which file column is which contract column, guessed from its name: home/away, team1/team2,
h_/v_ prefixes, CamelCase, score and moneyline words, spread and total names; `--columns` where
the guess is wrong."""

from __future__ import annotations

import re

# Words of a column name that say which side it is about.
HOME_WORDS = {"home", "h", "host", "hometeam", "local"}
AWAY_WORDS = {"away", "visitor", "visitors", "visiting", "vis", "v", "road", "guest", "awayteam"}
TEAM_WORDS = {"team", "name", "club", "abbr", "code", "franchise", "side"}
SCORE_WORDS = {"score", "final", "pts", "points", "runs", "r", "goals", "g", "gf"}
ODDS_WORDS = {"ml", "moneyline", "odds", "line", "price"}
OPEN_WORDS = {"open", "opening", "opener"}
DATE_NAMES = ["start_time", "datetime", "date_time", "start", "game_date", "gamedate", "date"]
SEASON_NAMES = ["season", "season_year", "year", "seasonyear"]


def _words(name: str) -> list[str]:
    """A column name's words: lower case, split at non-letters, camel case and digits."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", name)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    out: list[str] = []
    for word in words:  # "hometeam", "awayscore", "hteam": a side word glued to another
        known = TEAM_WORDS | SCORE_WORDS | ODDS_WORDS | OPEN_WORDS
        glued = next(
            (
                s
                for s in sorted(HOME_WORDS | AWAY_WORDS, key=len, reverse=True)
                if len(s) > 1 and word.startswith(s) and word[len(s) :] in known
            ),
            None,
        )
        out += [glued, word[len(glued) :]] if glued else [word]
    return out


def _column_role(name: str) -> str | None:
    """The contract column a file column looks like, from its name alone."""
    words = _words(name)
    numbered = [w for w in words if w in ("1", "2")]
    # A side word decides; a lone 1 or 2 only without one (team1 is at home, q1_away is not).
    if set(words) & HOME_WORDS:
        side: str | None = "home"
    elif set(words) & AWAY_WORDS:
        side = "away"
    else:
        side = {"1": "home", "2": "away"}.get(numbered[0]) if len(numbered) == 1 else None
    if side is None:
        return None
    rest = set(words) - HOME_WORDS - AWAY_WORDS - {"1", "2"}
    if rest & ODDS_WORDS:
        return f"{side}_ml_open" if rest & OPEN_WORDS else f"{side}_ml"
    if rest & SCORE_WORDS:
        return f"{side}_score"
    if rest <= TEAM_WORDS:
        return f"{side}_team"
    return None


def guess_columns(file_columns: list[str]) -> dict[str, str]:
    """{contract column: file column} for the columns whose names say what they are; an exact
    contract name wins, then the first column of a kind."""
    mapping: dict[str, str] = {}
    lower = {c.lower(): c for c in file_columns}
    for name in lower:
        contract = name if name in CONTRACT_NAMES else None
        if contract:
            mapping[contract] = lower[name]
    for name in DATE_NAMES:
        if "start_time" not in mapping and name in lower:
            mapping["start_time"] = lower[name]
    for name in SEASON_NAMES:
        if "season" not in mapping and name in lower:
            mapping["season"] = lower[name]
    for column in file_columns:
        role = _column_role(column)
        if role and role not in mapping and column not in mapping.values():
            mapping[role] = column
    flag_words = {
        "neutral": lambda w: "neutral" in w,
        "playoff": lambda w: bool({"playoff", "playoffs", "postseason"} & w),
        "status": lambda w: "status" in w,
        "game_number": lambda w: "game" in w and bool({"number", "num", "no", "nbr", "n"} & w),
    }
    for contract, names in LINE_NAMES.items():  # lines have no side word: by name
        found_line = next((lower[n] for n in names if n in lower), None)
        if contract not in mapping and found_line and found_line not in mapping.values():
            mapping[contract] = found_line
    for flag, matches in flag_words.items():
        found = [c for c in file_columns if matches(set(_words(c)))]
        if flag not in mapping and found and found[0] not in mapping.values():
            mapping[flag] = found[0]
    return mapping


# A file's spread, total and favourite columns, by name (the first found wins). `favourite`
# is not a contract column: it says who the spread favours where the file writes the
# favourite's line unsigned.
LINE_NAMES = {
    "home_spread": ["spread", "point_spread", "spread_line", "line_spread", "handicap"],
    "total_line": ["total", "over_under", "overunder", "ou", "o_u", "ou_line", "totals"],
    "home_spread_open": ["spread_open", "opening_spread", "open_spread"],
    "total_line_open": ["total_open", "opening_total", "open_total"],
    "favourite": ["favourite", "favorite", "whos_favored", "favored", "fav"],
    "home_won": ["home_won", "home_win", "homewin", "home_wins", "home_result"],
    "winner": ["winner", "winning_team", "won_by", "victor"],
}
CONTRACT_NAMES = {
    "game_id", "season", "start_time", "home_team", "away_team", "neutral", "playoff",
    "home_score", "away_score", "status", "home_ml", "away_ml", "home_ml_open", "away_ml_open",
    "game_number", "home_spread", "total_line", "home_spread_open", "total_line_open",
    "favourite", "home_won", "winner",
}  # fmt: skip


def parse_columns_option(text: str | None) -> dict[str, str]:
    """`--columns home_team=HomeTeam,away_team=Visitor` as a dict (checked names)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        contract, sep, column = part.partition("=")
        contract, column = contract.strip(), column.strip()
        if not sep or not column or contract not in CONTRACT_NAMES:
            raise ValueError(
                f"--columns: {part.strip()!r} is not <contract column>=<file column>; contract "
                f"columns: {sorted(CONTRACT_NAMES)}"
            )
        out[contract] = column
    return out
