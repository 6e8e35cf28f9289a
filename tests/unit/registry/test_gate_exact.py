"""The gate's decision to the letter: its numbers against hand values, each boundary on the
right side, and every explanation a person reads (the Prefect artifact, `status`, the API)
saying what was found, branch by branch (mutation testing found these unpinned)."""

from __future__ import annotations

import hashlib
import math

import pytest

from gameline.tasks.config import GateConfig
from gameline.tasks.registry.gate import (
    calibration_check,
    champion_check,
    decide,
    decision_markdown,
)
from tests.unit.registry.test_gate import NOW, judged

SMALL = GateConfig(window_games=10, min_games=4, max_ece=0.06, bootstrap_samples=200)


# Four games, every probability 0.5 and two home wins: log loss ln 2, calibration error 0.
HALF = judged([1.0, 0.0, 1.0, 0.0], [0.5] * 4, [0.6, 0.6, 0.6, 0.6])


def test_the_decision_carries_the_scores_computed_by_hand() -> None:
    decision = decide(HALF, SMALL, NOW)
    assert decision.challenger_log_loss == pytest.approx(math.log(2), abs=1e-12)
    elo = -(2 * math.log(0.6) + 2 * math.log(0.4)) / 4
    assert decision.elo_log_loss == pytest.approx(elo, abs=1e-12)
    assert decision.challenger_ece == 0.0  # perfectly calibrated: within any bound
    assert decision.champion_log_loss is None and decision.games == 4
    calibration = decision.checks[1]
    assert calibration.passed and calibration.detail == "ECE 0.0000, within the bound 0.06"
    assert decision.checks[2].detail == (
        "log loss 0.6931 against Elo's 0.7136 on the same games: lower"
    )
    key = f"2|None|{NOW.isoformat()}"
    assert decision.decision_id == hashlib.sha256(key.encode()).hexdigest()[:16]


def test_exactly_min_games_is_enough_one_fewer_is_not() -> None:
    enough = decide(HALF, SMALL, NOW).checks[0]
    assert enough.passed and enough.detail == "4 games in the window, at least the 4 needed"
    short = decide(HALF, SMALL.model_copy(update={"min_games": 5}), NOW)
    assert not short.promote
    assert short.checks[0].detail == "4 games in the window, fewer than the 5 needed"
    assert short.reason == "games failed (4 games in the window, fewer than the 5 needed)"


def test_every_failed_check_is_in_the_reason_in_order() -> None:
    worse_than_elo = judged([1.0, 0.0, 1.0, 0.0], [0.9, 0.9, 0.9, 0.9], [0.5] * 4)
    decision = decide(worse_than_elo, SMALL, NOW)
    failed = [c for c in decision.checks if not c.passed]
    assert [c.name for c in failed] == ["calibration", "beats Elo"]
    assert decision.reason == "; ".join(f"{c.name} failed ({c.detail})" for c in failed)
    assert failed[1].detail.endswith("on the same games: not lower")


def test_a_challenger_equal_to_the_champion_within_a_margin_is_not_called_better() -> None:
    """The same probabilities: every per-game difference is 0, the interval [0, 0]. With a
    margin of 0.01 it goes in, as within the margin, not as better with evidence."""
    same = judged([1.0, 0.0, 1.0, 0.0], [0.5] * 4, [0.6] * 4, champion=[0.5] * 4)
    decision = decide(same, SMALL.model_copy(update={"margin": 0.01}), NOW)
    assert decision.promote and (decision.diff_low, decision.diff_high) == (0.0, 0.0)
    assert decision.reason == "not worse than the champion by more than the margin +0.01000"
    assert decision.champion_log_loss == pytest.approx(math.log(2), abs=1e-12)
    assert decide(same, SMALL.model_copy(update={"margin": 0.01}), NOW) == decision  # seeded
    refreshed = decide(
        same.model_copy(update={"refresh": True}), SMALL.model_copy(update={"margin": 0.01}), NOW
    )
    assert (
        refreshed.reason == "a refresh of the champion's recipe on newer games, not worse than it"
    )


@pytest.mark.parametrize(
    ("interval", "margin", "passed", "ending"),
    [
        ((-0.01, -0.02, -0.001), 0.0, True, "is below the margin +0.00000, the challenger is "
         "better with evidence"),
        ((0.0, 0.0, 0.0), 0.01, True, "is below the margin +0.01000, within the margin"),
        ((0.02, 0.01, 0.03), 0.0, False, "is not below the margin +0.00000, the challenger is "
         "worse with evidence"),
        ((0.01, 0.0, 0.02), 0.0, False, "is not below the margin +0.00000, no evidence the "
         "challenger is better"),
        ((0.0, -0.01, 0.01), 0.0, False, "is not below the margin +0.00000, no evidence the "
         "challenger is better"),
    ],
)  # fmt: skip
def test_the_champion_check_says_which_side_of_the_margin_and_why(
    interval: tuple[float, float, float], margin: float, passed: bool, ending: str
) -> None:
    mean, low, high = interval
    check = champion_check(mean, low, high, SMALL.model_copy(update={"margin": margin}))
    assert check.passed is passed and check.name == "beats champion"
    assert check.detail == (
        f"challenger minus champion log loss per game {mean:+.5f}, 90% interval "
        f"[{low:+.5f}, {high:+.5f}]: its upper end {ending}"
    )


@pytest.mark.parametrize(
    ("ece", "champion_ece", "passed", "detail"),
    [
        (0.06, None, True, "ECE 0.0600, within the bound 0.06"),
        (0.08, None, False, "ECE 0.0800, above the bound 0.06"),
        (0.08, 0.08, True, "ECE 0.0800, above the bound 0.06, at or below the champion's "
         "0.0800 on the same games"),
        (0.08, 0.07, False, "ECE 0.0800, above the bound 0.06, above the champion's 0.0700 on "
         "the same games"),
        (0.05, 0.01, True, "ECE 0.0500, within the bound 0.06"),
    ],
)  # fmt: skip
def test_the_calibration_check_at_and_past_its_bounds(
    ece: float, champion_ece: float | None, passed: bool, detail: str
) -> None:
    check = calibration_check(ece, champion_ece, SMALL)
    assert (check.name, check.passed, check.detail) == ("calibration", passed, detail)


def test_a_rejection_without_a_champion_reads_as_such() -> None:
    decision = decide(HALF, SMALL.model_copy(update={"min_games": 5}), NOW)
    reason, champion, table = decision.facts().blocks
    assert reason == f"{decision.reason}."
    assert champion == f"Champion: none (none); 4 games {NOW} .. {NOW}."
    assert not isinstance(table, str) and table.title == "Gate: v2 vs champion -"
    assert table.rows[0][:2] == ("games", "no") and table.rows[1][:2] == ("calibration", "yes")
    assert decision_markdown(decision, "m").startswith("# Gate: m v2 REJECTED\n")


def test_no_games_no_scores_and_the_same_games_the_same_interval() -> None:
    empty = decide(judged([], [], []), SMALL, NOW)
    assert not empty.promote and empty.games == 0
    assert (empty.challenger_log_loss, empty.elo_log_loss, empty.challenger_ece) == (None,) * 3
    y = [float(i % 3 == 0) for i in range(40)]
    p = [0.3 + 0.01 * i for i in range(40)]
    champion = [0.5 - 0.005 * i for i in range(40)]
    uneven = judged(y, p, [0.5] * 40, champion=champion)
    first = decide(uneven, SMALL, NOW)
    assert first.diff_low != first.diff_high  # a real interval, from a seeded bootstrap
    assert decide(uneven, SMALL, NOW).model_dump() == first.model_dump()
