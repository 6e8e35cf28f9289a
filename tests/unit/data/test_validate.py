"""Validation rules (Great Expectations): each planted problem is caught by its named rule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import conform
from gameline.tasks.data.validate import ValidationFailed, check_bad_share, validate_games
from tests.builders import small_sim_config

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def config(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return sim_config(league={"name": "SIM", "teams": ["A", "B", "C", "D"]})


def games(config: GamelineConfig, *changes: dict) -> pd.DataFrame:
    """Three good final games, then one row per change applied to a copy of a good game."""
    base = pd.DataFrame(
        {
            "season": [2025] * 3,
            "start_time": pd.to_datetime(
                ["2025-01-05 00:00", "2025-01-06 00:00", "2025-01-07 00:00"], utc=True
            ),
            "home_team": ["A", "C", "A"],
            "away_team": ["B", "D", "C"],
            "home_score": [100.0, 95, 99],
            "away_score": [90.0, 97, 98],
            "home_ml": [-150.0, 120, -110],
            "away_ml": [130.0, -140, -110],
        }
    )
    rows = [base]
    for i, change in enumerate(changes):
        extra = base.iloc[[0]].copy()
        extra["start_time"] = pd.Timestamp("2025-02-01", tz="UTC") + pd.Timedelta(days=i)
        for key, value in change.items():
            extra[key] = value
        rows.append(extra)
    frame = pd.concat(rows, ignore_index=True)
    frame["source_line"] = range(2, len(frame) + 2)
    return conform(frame, config.league, source="test")


def rules_of(outcome, line: int) -> str:
    rejected = outcome.rejected.set_index("source_line")
    return rejected.loc[line, "rules"]


def test_good_games_pass(config: GamelineConfig) -> None:
    outcome = validate_games(games(config), config, NOW)
    assert len(outcome.valid) == 3 and len(outcome.rejected) == 0


# One planted problem per row, each caught by its named rule.
CHANGES = [
    ({"home_score": -3.0}, "scores between 0 and 400"),
    ({"away_team": "ZZZ"}, "away_team is a league team"),
    ({"away_team": "A"}, "home_team != away_team"),
    ({"start_time": pd.Timestamp("2025-06-01", tz="UTC")}, "final game is not in the future"),
    ({"start_time": pd.Timestamp("2023-06-01", tz="UTC")}, "start_time inside the season window"),
    ({"home_score": 100.5}, "scores are whole numbers"),
    ({"away_score": 100.0}, "no tied final in SIM"),
    ({"status": "final", "away_score": None}, "final game has both scores"),
    ({"status": "scheduled"}, "scheduled game has no score"),
    ({"status": "postponed"}, "status is scheduled or final"),
    ({"parse_error": "home_score=x is not a number"}, "every field parses"),
]
FIRST_CHANGED_LINE = 5  # after the header and the three good games


@pytest.fixture(scope="module")
def each_change_once(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One validation of the good games and a row per change (each on its own day): read by
    every test of a change, as each Great Expectations run costs about 0.3 s."""
    config = small_sim_config(
        tmp_path_factory.mktemp("validate") / "state", league={"name": "SIM", "teams": list("ABCD")}
    )
    return validate_games(games(config, *(change for change, _ in CHANGES)), config, NOW)


def test_great_expectations_says_nothing_at_info_level(
    config: GamelineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """With Great Expectations' loggers at WARNING, as the CLI sets them, a validation logs
    nothing of theirs (one of its modules set itself to INFO when imported: its temporary docs
    folders were five lines on every run's console)."""
    caplog.set_level(logging.WARNING, logger="great_expectations")
    caplog.set_level(logging.INFO)  # the capturing handler's level: the last one set
    validate_games(games(config), config, NOW)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("great_expectations")] == []


@pytest.mark.parametrize(
    ("line", "rule"),
    [(FIRST_CHANGED_LINE + i, rule) for i, (_, rule) in enumerate(CHANGES)],
    ids=[rule for _, rule in CHANGES],
)
def test_each_bad_row_is_quarantined_with_its_rule(
    each_change_once: Any, line: int, rule: str
) -> None:
    assert rule in rules_of(each_change_once, line)
    rejected = each_change_once.rejected.set_index("source_line")
    assert rejected.loc[line, "action"] == "not stored"


def test_only_the_changed_rows_are_quarantined(each_change_once: Any) -> None:
    assert len(each_change_once.valid) == 3
    lines = range(FIRST_CHANGED_LINE, FIRST_CHANGED_LINE + len(CHANGES))
    assert sorted(each_change_once.rejected["source_line"]) == list(lines)


def test_a_row_can_break_several_rules(config: GamelineConfig) -> None:
    outcome = validate_games(games(config, {"home_team": "ZZZ", "home_score": -1.0}), config, NOW)
    rules = rules_of(outcome, 5)
    assert "home_team is a league team" in rules and "scores between 0 and 400" in rules


def test_repeated_row_keeps_its_first_copy(config: GamelineConfig) -> None:
    frame = games(config)
    repeated = pd.concat([frame, frame.iloc[[1]].assign(source_line=9)], ignore_index=True)
    outcome = validate_games(repeated, config, NOW)
    assert len(outcome.valid) == 3
    assert rules_of(outcome, 9) == "game_id is unique (repeated row)"


def test_conflicting_rows_are_all_quarantined(config: GamelineConfig) -> None:
    frame = games(config)
    other = frame.iloc[[1]].assign(source_line=9, home_score=50.0)
    outcome = validate_games(pd.concat([frame, other], ignore_index=True), config, NOW)
    assert len(outcome.valid) == 2
    assert set(outcome.rejected["source_line"]) == {3, 9}
    assert set(outcome.rejected["rules"]) == {"game_id is unique (conflicting rows)"}


def test_implausible_odds_are_removed_but_the_game_kept(config: GamelineConfig) -> None:
    outcome = validate_games(games(config, {"away_ml": 8.0}), config, NOW)
    assert len(outcome.valid) == 4
    kept = outcome.valid.iloc[-1]
    assert pd.isna(kept["home_ml"]) and pd.isna(kept["away_ml"]) and kept["home_score"] == 100
    assert outcome.rejected["action"].tolist() == ["odds removed"]


def test_bad_share_over_threshold_names_file_count_and_rules(config: GamelineConfig) -> None:
    outcome = validate_games(games(config, {"home_score": -1.0}, {"away_team": "A"}), config, NOW)
    with pytest.raises(ValidationFailed) as info:
        check_bad_share("league.csv", 5, outcome.rejected, config.validation)
    message = str(info.value)
    assert "league.csv" in message and "2 of 5 rows" in message
    assert "home_team != away_team (1)" in message and "scores between 0 and 400 (1)" in message
    assert "[5, 6]" in message  # the first bad lines


def test_bad_share_under_threshold_passes(config: GamelineConfig) -> None:
    outcome = validate_games(games(config, {"home_score": -1.0}), config, NOW)
    check_bad_share("league.csv", 100, outcome.rejected, config.validation)


def test_a_rule_with_a_row_condition_sees_only_its_rows_and_results_keep_the_rules_order() -> None:
    """Rules that share a row condition run together on the rows that meet it; what each
    found comes back in the order the rules were given."""
    from gameline.tasks.data.expectations import ROW, run_rules

    frame = pd.DataFrame(
        {
            "status": pd.array(["final", "scheduled", "final", "scheduled"], dtype="string"),
            "x": [1.0, None, None, 2.0],
            ROW: [0, 1, 2, 3],
        }
    )
    final, scheduled = 'status=="final"', 'status=="scheduled"'
    specs = [
        (
            "x known when final",
            "ExpectColumnValuesToNotBeNull",
            {"column": "x", "row_condition": final},
        ),
        ("status known", "ExpectColumnValuesToNotBeNull", {"column": "status"}),
        (
            "no x when scheduled",
            "ExpectColumnValuesToBeNull",
            {"column": "x", "row_condition": scheduled},
        ),
        (
            "x below 2 when final",
            "ExpectColumnValuesToBeBetween",
            {"column": "x", "max_value": 1.5, "row_condition": final},
        ),
    ]
    results = run_rules(frame, specs)
    assert [r.rule for r in results] == [rule for rule, _, _ in specs]
    assert [r.rows.tolist() for r in results] == [[2], [], [3], []]
