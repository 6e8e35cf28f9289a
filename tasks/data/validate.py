"""Validation with Great Expectations: a suite built from config, bad rows split off with the
rule(s) each broke, and a human-readable HTML report."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, LeagueConfig, ValidationConfig, state_paths
from gameline.tasks.contracts import (
    CONTENT_COLUMNS,
    PARSE_ERROR,
    SOURCE_LINE,
    SPREAD_COLUMNS,
    STATUSES,
    TOTAL_COLUMNS,
    home_win,
)
from gameline.tasks.data.expectations import ROW, RuleResult, RuleSpec, run_rules
from gameline.tasks.data.simulator import team_codes
from gameline.tasks.storage import read_parquet, releasing_memory, write_parquet, write_text

RULES = "rules"
FINAL = 'status=="final"'
SCHEDULED = 'status=="scheduled"'
UNIQUE_RULE = "game_id is unique"
ACTION = "action"
ODDS_COLUMNS = ["home_ml", "away_ml", "home_ml_open", "away_ml_open"]
# Rules on optional prices, by the start of their name: a game that broke only these is kept
# and the prices each rule covers are nulled (a bad moneyline does not cost the game's spread).
PRICE_RULES = {
    "moneyline": ODDS_COLUMNS,
    "spread": list(SPREAD_COLUMNS),
    "total line": list(TOTAL_COLUMNS),
}


class ValidationFailed(RuntimeError):
    """Too many rows of one input broke the rules; nothing was stored."""


def season_window(season: pd.Series, league: LeagueConfig) -> tuple[pd.Series, pd.Series]:
    """First and last local date (UTC midnight bounds) that a season's games may fall on.
    Parsed once per season, then spread to the rows (a million rows hold a few hundred)."""
    window = league.season_window
    codes, seasons = pd.factorize(season)
    each = pd.Series(seasons, dtype=season.dtype)
    first_year = (each + window.start_year_offset).astype("string")
    last_year = (each + window.end_year_offset).astype("string")
    start = pd.to_datetime(first_year + "-" + window.start, errors="coerce", utc=True)
    end = pd.to_datetime(last_year + "-" + window.end, errors="coerce", utc=True)

    def per_row(bounds: pd.Series) -> pd.Series:  # a missing season: no bounds (NaT)
        return pd.Series(bounds.array.take(codes, allow_fill=True), index=season.index)

    # The window is in local dates; pad a day each side for the UTC shift of evening games.
    return per_row(start - pd.Timedelta(days=1)), per_row(end + pd.Timedelta(days=2))


def worst_odds(close: pd.Series, opening: pd.Series, low: float, high: float) -> pd.Series:
    """|odds| of a side for the moneyline rule: the opening line's where it is outside
    [low, high] (one rule covers both lines, one Great Expectations run), else the closing's."""
    close_abs, open_abs = close.abs(), opening.abs()
    open_bad = (open_abs < low) | (open_abs > high)
    return close_abs.mask(open_bad.fillna(False), open_abs)


def validation_frame(
    games: pd.DataFrame, league: LeagueConfig, limits: ValidationConfig | None = None
) -> pd.DataFrame:
    """The games plus the derived columns some rules check (GE has no expression rules)."""
    frame = games.copy()
    frame.index = pd.RangeIndex(len(frame))  # renumbered in place: reset_index copies again
    frame[ROW] = np.arange(len(frame))
    if PARSE_ERROR not in frame:
        frame[PARSE_ERROR] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["season_start"], frame["season_end"] = season_window(frame["season"], league)
    scores = frame[["home_score", "away_score"]].astype("float64")
    frame["teams_differ"] = (frame["home_team"] != frame["away_team"]).fillna(True)
    frame["scores_whole"] = (scores.isna() | (scores % 1 == 0)).all(axis=1)
    frame["scores_level"] = (scores["home_score"] == scores["away_score"]).astype("boolean")
    # A winner-only game: no score at all and who won. It has "both scores" as far as the
    # rules go; a game with one score, or with a winner its scores contradict, has not.
    won = frame["home_won"] if "home_won" in frame else pd.Series(pd.NA, index=frame.index)
    winner_only = scores.isna().all(axis=1) & won.notna()
    for side in ("home", "away"):
        frame[f"{side}_result"] = scores[f"{side}_score"].mask(winner_only, 0.0)
    label = home_win(scores["home_score"], scores["away_score"])
    frame["winner_agrees"] = ~(
        won.notna().to_numpy()
        & ~np.isnan(label)
        & (won.astype("Float64").to_numpy(dtype="float64", na_value=np.nan) != label)
    )
    limits = limits or ValidationConfig()
    for side in ("home", "away"):
        frame[f"{side}_ml_abs"] = worst_odds(
            frame[f"{side}_ml"],
            frame[f"{side}_ml_open"] if f"{side}_ml_open" in frame else frame[f"{side}_ml"],
            limits.odds_abs_min,
            limits.odds_abs_max,
        )
    return frame


def rule_specs(config: GamelineConfig, now: datetime) -> list[RuleSpec]:
    """(rule name, GE expectation class, kwargs) for every rule this config asks for."""
    league, limits = config.league, config.validation
    specs: list[RuleSpec] = [
        (f"{col} is present", "ExpectColumnValuesToNotBeNull", {"column": col})
        for col in ("game_id", "season", "start_time", "home_team", "away_team", "status")
    ]
    specs += [
        ("every field parses", "ExpectColumnValuesToBeNull", {"column": PARSE_ERROR}),
        (
            "status is scheduled or final",
            "ExpectColumnValuesToBeInSet",
            {"column": "status", "value_set": list(STATUSES)},
        ),
        (UNIQUE_RULE, "ExpectColumnValuesToBeUnique", {"column": "game_id"}),
        # ExpectSelectColumnValuesToBeUniqueWithinRecord works row by row (20 s per 300k rows).
        (
            "home_team != away_team",
            "ExpectColumnValuesToBeInSet",
            {"column": "teams_differ", "value_set": [True]},
        ),
        (
            "start_time inside the season window",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "start_time", "column_B": "season_start", "or_equal": True},
        ),
        (
            "start_time inside the season window",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "season_end", "column_B": "start_time", "or_equal": True},
        ),
        (
            "final game is not in the future",
            "ExpectColumnValuesToBeBetween",
            {"column": "start_time", "max_value": pd.Timestamp(now), "row_condition": FINAL},
        ),
        (
            "the winner agrees with the scores",
            "ExpectColumnValuesToBeInSet",
            {"column": "winner_agrees", "value_set": [True]},
        ),
        (
            "scheduled game has no winner",
            "ExpectColumnValuesToBeNull",
            {"column": "home_won", "row_condition": SCHEDULED},
        ),
        (
            "scores are whole numbers",
            "ExpectColumnValuesToBeInSet",
            {"column": "scores_whole", "value_set": [True]},
        ),
    ]
    teams = league_teams(config)
    for side in ("home", "away"):
        if teams:
            specs.append(
                (
                    f"{side}_team is a league team",
                    "ExpectColumnValuesToBeInSet",
                    {"column": f"{side}_team", "value_set": teams},
                )
            )
        specs += [
            (
                "final game has both scores",
                "ExpectColumnValuesToNotBeNull",
                {"column": f"{side}_result", "row_condition": FINAL},
            ),
            (
                f"scores between 0 and {limits.max_score}",
                "ExpectColumnValuesToBeBetween",
                {"column": f"{side}_score", "min_value": 0, "max_value": limits.max_score},
            ),
            (
                "scheduled game has no score",
                "ExpectColumnValuesToBeNull",
                {"column": f"{side}_score", "row_condition": SCHEDULED},
            ),
            (
                f"moneyline is American odds with {limits.odds_abs_min:g} <= |odds| <= "
                f"{limits.odds_abs_max:g}",
                "ExpectColumnValuesToBeBetween",
                {
                    "column": f"{side}_ml_abs",
                    "min_value": limits.odds_abs_min,
                    "max_value": limits.odds_abs_max,
                },
            ),
        ]
    for column in SPREAD_COLUMNS:
        specs.append(
            (
                f"spread is a line with |spread| <= {limits.spread_abs_max:g}",
                "ExpectColumnValuesToBeBetween",
                {
                    "column": column,
                    "min_value": -limits.spread_abs_max,
                    "max_value": limits.spread_abs_max,
                },
            )
        )
    for column in TOTAL_COLUMNS:
        specs.append(
            (
                f"total line is between 0 and {2 * limits.max_score:g} (twice max_score)",
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": 0, "max_value": 2 * limits.max_score},
            )
        )
    if not league.allow_ties:
        specs.append(
            (
                f"no tied final in {league.name}",
                "ExpectColumnValuesToBeInSet",
                {"column": "scores_level", "value_set": [False], "row_condition": FINAL},
            )
        )
    return specs


def league_teams(config: GamelineConfig) -> list[str] | None:
    """The allowed team codes: the configured list, else the simulator's own codes."""
    if config.league.teams:
        return config.league.teams
    if config.source.kind == "simulator":
        return team_codes(config.source.simulator.n_teams)
    return None


def resolve_repeats(frame: pd.DataFrame, results: list[RuleResult]) -> list[RuleResult]:
    """Of rows sharing a game_id: exact repeats keep their first row; conflicting ones all fail."""
    out = []
    for result in results:
        if result.rule != UNIQUE_RULE or result.failed == 0:
            out.append(result)
            continue
        dup = frame.iloc[result.rows]
        content = [c for c in CONTENT_COLUMNS if c in dup.columns]
        variants = dup.drop_duplicates(subset=content).groupby("game_id", dropna=False).size()
        conflicting = dup["game_id"].isin(variants[variants > 1].index)
        repeat = ~conflicting & dup.duplicated(subset="game_id", keep="first")
        out.append(
            RuleResult(
                "game_id is unique (repeated row)",
                result.expectation,
                dup.loc[repeat, ROW].to_numpy(),
            )
        )
        out.append(
            RuleResult(
                "game_id is unique (conflicting rows)",
                result.expectation,
                dup.loc[conflicting, ROW].to_numpy(),
            )
        )
    return out


def split_rows(frame: pd.DataFrame, results: list[RuleResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to store, quarantined rows with `rules` naming every rule each broke and `action`).

    A row that broke only price rules (PRICE_RULES) is stored without the prices it broke
    ('odds removed'); every other failing row is held back ('not stored').
    """
    failing = [(r.rule, r.rows) for r in results if r.failed]
    rows = np.concatenate([r for _, r in failing]) if failing else np.empty(0, dtype=np.int64)
    names = np.concatenate([[n] * len(r) for n, r in failing]) if failing else np.empty(0)
    by_row = pd.DataFrame({ROW: rows, RULES: pd.Series(names, dtype="string")}).drop_duplicates()
    by_row["odds_only"] = by_row[RULES].str.startswith(tuple(PRICE_RULES))
    per_row = by_row.groupby(ROW).agg(rules=(RULES, "; ".join), odds_only=("odds_only", "all"))
    keep = [
        c
        for c in frame.columns
        if c in CONTENT_COLUMNS or c in ("source", "manifest_id", SOURCE_LINE, PARSE_ERROR)
    ]
    flagged = frame[ROW].isin(per_row.index)
    quarantined = frame.loc[flagged, keep].copy()
    info = per_row.loc[frame.loc[flagged, ROW]]
    quarantined[RULES] = info[RULES].to_numpy()
    quarantined[ACTION] = np.where(info["odds_only"], "odds removed", "not stored")
    repaired = frame[ROW].isin(per_row.index[per_row["odds_only"]])
    kept = ~flagged | repaired
    # Column by column, once (`frame.loc[kept, keep].copy()` copied every column twice).
    positions = np.flatnonzero(kept.to_numpy())
    stored = pd.DataFrame({c: frame[c].array.take(positions) for c in keep}, copy=False)
    for prefix, columns in PRICE_RULES.items():
        broke = by_row.loc[by_row[RULES].str.startswith(prefix), ROW]
        hit = (repaired & frame[ROW].isin(broke))[kept].to_numpy()
        stored.loc[hit, [c for c in columns if c in stored]] = pd.NA
    # Both are new frames: renumbered in place (reset_index would copy them again).
    stored.index = pd.RangeIndex(len(stored))
    quarantined.index = pd.RangeIndex(len(quarantined))
    return stored, quarantined


@dataclass(frozen=True)
class ValidationOutcome:
    """What validation found in one input."""

    valid: pd.DataFrame = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    results: list[RuleResult]


def validate_games(games: pd.DataFrame, config: GamelineConfig, now: datetime) -> ValidationOutcome:
    """Check every row against the config's rules; split into valid and rejected rows."""
    frame = validation_frame(games, config.league, config.validation)
    results = resolve_repeats(frame, run_rules(frame, rule_specs(config, now)))
    valid, rejected = split_rows(frame, results)
    return ValidationOutcome(valid=valid, rejected=rejected, results=results)


def rule_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    """How many quarantined rows broke each rule (a row may break several)."""
    if not len(quarantine):
        return {}
    counts = quarantine[RULES].str.split("; ").explode().value_counts()
    return {str(rule): int(n) for rule, n in counts.items()}


def check_bad_share(
    label: str, n_read: int, rejected: pd.DataFrame, limits: ValidationConfig
) -> None:
    """Raise ValidationFailed naming the file, counts and rules when too many rows are bad
    (every quarantined row counts, repaired or not)."""
    if n_read == 0 or len(rejected) / n_read <= limits.max_bad_share:
        return
    rules = ", ".join(f"{rule} ({n})" for rule, n in rule_counts(rejected).items())
    lines = rejected[SOURCE_LINE].head(5).tolist() if SOURCE_LINE in rejected else []
    raise ValidationFailed(
        f"{label}: {len(rejected)} of {n_read} rows ({len(rejected) / n_read:.1%}) broke rules, "
        f"more than the allowed {limits.max_bad_share:.1%}; nothing was stored. Rules: {rules}. "
        f"First bad lines: {lines}"
    )


def report_html(label: str, n_read: int, results: list[RuleResult], rejected: pd.DataFrame) -> str:
    """A self-contained HTML page: one line a rule, then the first rejected rows."""
    esc = html.escape
    rows = "".join(
        f"<tr class={'bad' if r.failed else 'ok'}><td>{esc(r.rule)}</td><td>{esc(r.expectation)}"
        f"</td><td>{'FAIL' if r.failed else 'pass'}</td><td>{r.failed}</td></tr>"
        for r in results
    )
    sample = (
        rejected.head(200).to_html(index=False, na_rep="", escape=True) if len(rejected) else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Gameline validation</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border:1px solid #ccc}"
        "table{border-collapse:collapse}.bad{background:#fde2e1}.ok{background:#e6f4ea}</style>"
        f"</head><body><h1>Validation of {esc(label)}</h1>"
        f"<p>{n_read} rows read, {len(rejected)} quarantined "
        f"({int((rejected[ACTION] == 'not stored').sum()) if len(rejected) else 0} not stored, "
        "the rest stored with their odds removed).</p>"
        f"<h2>Rules (Great Expectations)</h2><table><tr><th>rule</th><th>expectation</th>"
        f"<th>result</th><th>rows failing</th></tr>{rows}</table>"
        f"<h2>Quarantined rows (first 200)</h2>{sample or '<p>none</p>'}</body></html>"
    )


def write_report(path: Path, label: str, n_read: int, outcome: ValidationOutcome) -> Path:
    """Write the validation report atomically."""
    return write_text(report_html(label, n_read, outcome.results, outcome.rejected), path)


class CheckedInput(BaseModel):
    """A validated input: where its valid and quarantined rows and its report were written."""

    valid_path: Path
    rejected_path: Path
    report_path: Path
    valid: int
    rejected: int


@releasing_memory
def check_input(
    config: GamelineConfig, staged_path: Path, label: str, now: datetime
) -> CheckedInput:
    """Validate a staged input; write valid rows, rejected rows and the HTML report."""
    games = read_parquet(staged_path)
    outcome = validate_games(games, config, now)
    paths = state_paths(config)
    stem = staged_path.with_suffix("")
    report = write_report(
        paths.reports / "validation" / f"{stem.name}.html", label, len(games), outcome
    )
    write_text(report.read_text(), paths.reports / "validation" / "latest.html")
    return CheckedInput(
        valid_path=write_parquet(outcome.valid, stem.with_name(f"{stem.name}.valid.parquet")),
        rejected_path=write_parquet(
            outcome.rejected, stem.with_name(f"{stem.name}.rejected.parquet")
        ),
        report_path=report,
        valid=len(outcome.valid),
        rejected=len(outcome.rejected),
    )
