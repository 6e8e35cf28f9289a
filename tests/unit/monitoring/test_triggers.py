"""Retraining only on a reason, never in a loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gameline.tasks.config import RetrainConfig
from gameline.tasks.monitoring.triggers import decide_retrain

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def decide(**changes: Any) -> Any:
    values: dict[str, Any] = {
        "manual": False,
        "champion": "3",
        "trained_until": NOW - timedelta(days=5),
        "active_kinds": set(),
        "last_retrain": None,
        "new_games": 500,
        "min_new_games": 50,
        "data_until": NOW,
        "now": NOW,
        "cfg": RetrainConfig(),
    }
    return decide_retrain(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "trigger"),
    [
        ({"manual": True}, "manual"),
        ({"champion": None}, "no_champion"),
        ({"active_kinds": {"miscalibration", "data_drift"}}, "degradation"),
        ({"active_kinds": {"prediction_drift"}}, "drift"),
        ({"trained_until": NOW - timedelta(days=40)}, "schedule"),
        ({"scheduled": True}, "schedule"),
    ],
)
def test_each_trigger_retrains(changes: dict[str, Any], trigger: str) -> None:
    decision = decide(**changes)
    assert decision.retrain and decision.trigger == trigger


def test_no_reason_no_retrain() -> None:
    decision = decide()
    assert not decision.retrain and decision.trigger is None and "no trigger" in decision.detail


def test_cooldown_and_new_games_stop_a_loop_but_not_a_manual_retrain() -> None:
    drift = {"active_kinds": {"data_drift"}}
    cooling = decide(**drift, last_retrain=NOW - timedelta(days=1))
    assert not cooling.retrain and cooling.blocked_by == "cooldown"
    starved = decide(**drift, new_games=3)
    assert not starved.retrain and starved.blocked_by == "too few new games"
    assert decide(manual=True, new_games=0, last_retrain=NOW).retrain
    weekly = decide(scheduled=True, last_retrain=NOW - timedelta(days=1))
    assert not weekly.retrain and weekly.blocked_by == "cooldown"  # a drift retrain yesterday


def test_triggers_can_be_switched_off() -> None:
    cfg = RetrainConfig(on_drift=False, max_champion_age_days=None)
    quiet = decide(active_kinds={"data_drift"}, trained_until=NOW - timedelta(days=400), cfg=cfg)
    assert not quiet.retrain
