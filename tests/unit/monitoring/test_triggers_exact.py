"""The retrain decision to the letter: each trigger's words, the cooldown and the champion's age
at their exact bounds, and `decide_from_history` passing on what it read (mutation testing
found these unpinned)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gameline.tasks.config import RetrainConfig
from gameline.tasks.monitoring.triggers import (
    RetrainDecision,
    append_retrain,
    decide_from_history,
    read_retrains,
)
from gameline.tasks.records import FileRecords
from tests.unit.monitoring.test_triggers import NOW
from tests.unit.monitoring.test_triggers import decide as base_decide

CFG = RetrainConfig(cooldown_days=3, max_champion_age_days=30)


def decide(**changes: Any) -> RetrainDecision:
    return base_decide(**{"cfg": CFG, **changes})  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"manual": True}, "retrain asked for by hand"),
        ({"champion": None}, "no champion yet"),
        ({"active_kinds": {"miscalibration", "excess_loss"}},
         "live performance alarm: excess_loss, miscalibration"),
        ({"active_kinds": {"prediction_drift", "data_drift"}},
         "drift: data_drift, prediction_drift"),
        ({"scheduled": True}, "the scheduled retrain"),
        ({"trained_until": NOW - timedelta(days=31)}, "champion's data is 31 days old (> 30)"),
    ],
)  # fmt: skip
def test_each_trigger_says_what_it_found(changes: dict[str, Any], detail: str) -> None:
    decision = decide(**changes)
    assert decision.retrain and decision.detail == detail and decision.reasons[0] == detail


def test_no_trigger_says_so() -> None:
    decision = decide()
    assert decision.detail == "no trigger: no alarm, no drift, champion fresh enough"
    assert (decision.retrain, decision.trigger, decision.reasons) == (False, None, [])
    assert decide(trained_until=None).detail == decision.detail  # no training end: not stale


def test_a_champion_exactly_max_age_old_is_not_stale() -> None:
    assert not decide(trained_until=NOW - timedelta(days=30)).retrain
    assert decide(trained_until=NOW - timedelta(days=30, seconds=1)).trigger == "schedule"


def test_the_cooldown_ends_exactly_cooldown_days_after_the_last_retrain() -> None:
    drift = {"active_kinds": {"data_drift"}}
    blocked = decide(**drift, last_retrain=NOW - timedelta(days=3) + timedelta(seconds=1))
    assert blocked.blocked_by == "cooldown" and not blocked.retrain
    assert blocked.detail == (
        "drift: data_drift, but the last retrain was 2026-01-29 00:00 UTC (cooldown 3 days)"
    )
    assert decide(**drift, last_retrain=NOW - timedelta(days=3)).retrain
    starved = decide(**drift, new_games=49)
    assert starved.detail == (
        "drift: data_drift, but only 49 games finished since the last training (need 50)"
    )
    assert decide(**drift, new_games=50).retrain


def test_no_champion_retrains_through_the_cooldown_and_without_new_games() -> None:
    decision = decide(champion=None, last_retrain=NOW, new_games=0)
    assert decision.retrain and decision.trigger == "no_champion"
    assert decision.blocked_by is None


GAMES = pd.DataFrame(
    {
        "status": ["final", "final", "final", "scheduled"],
        "start_time": pd.to_datetime([NOW - timedelta(days=d) for d in (10, 6, 2, -1)], utc=True),
    }
)


def from_history(**changes: Any) -> RetrainDecision:
    values: dict[str, Any] = {
        "request": None,
        "champion": "3",
        "trained_until": NOW - timedelta(days=8),
        "previous": None,
        "games": GAMES,
        "active_kinds": set(),
        "now": NOW,
        "cfg": CFG,
        "min_new_games": 2,
    }
    return decide_from_history(**{**values, **changes})


def test_decide_from_history_passes_on_the_request_the_champion_and_the_data() -> None:
    quiet = from_history()
    assert not quiet.retrain and quiet.data_until == (NOW - timedelta(days=2))
    assert from_history(request="manual").trigger == "manual"
    scheduled = from_history(request="schedule")
    assert scheduled.trigger == "schedule" and scheduled.detail == "the scheduled retrain"
    stale = from_history(trained_until=NOW - timedelta(days=40))
    assert stale.detail == "champion's data is 40 days old (> 30)"
    assert not from_history(games=GAMES.iloc[3:]).data_until  # no final game: no data end
    # Nothing trained and no retrain yet: every final game is new.
    first = from_history(champion=None, trained_until=None, min_new_games=3)
    assert first.retrain and first.trigger == "no_champion"
    never = from_history(trained_until=None, active_kinds={"data_drift"}, min_new_games=4)
    assert never.detail.endswith("only 3 games finished since the last training (need 4)")


def test_decide_from_history_reads_the_cooldown_and_new_games_from_the_last_retrain() -> None:
    previous = decide(manual=True, now=NOW - timedelta(days=1), data_until=NOW - timedelta(days=3))
    cooling = from_history(request="schedule", previous=previous)
    assert cooling.blocked_by == "cooldown"
    older = previous.model_copy(update={"decided_at": NOW - timedelta(days=5)})
    # New games since the later of the champion's data (8 days ago) and the last retrain's
    # (3 days ago): one game, fewer than the two needed.
    starved = from_history(request="schedule", previous=older)
    assert starved.blocked_by == "too few new games" and "only 1 games" in starved.detail
    assert from_history(request="schedule", previous=older, min_new_games=1).retrain


def test_the_retrain_log_round_trips(tmp_path: Path) -> None:
    log = FileRecords(tmp_path)
    first, second = decide(), decide(manual=True)
    append_retrain(log, first)
    append_retrain(log, second)
    assert read_retrains(log) == [first, second]
