"""Retraining only on a reason, never in a loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
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


def test_new_games_count_from_the_later_of_the_champions_data_and_the_last_retrain(
    tmp_path: Path,
) -> None:
    """decide_from_history counts the finals after the later of the champion's training end
    and the last retrain's data (at exactly the minimum it retrains, one fewer it waits), reads
    the cooldown from the retrain log, and appends each decision to it."""
    from gameline.tasks.monitoring.triggers import (
        append_retrain,
        decide_from_history,
        last_retrain,
        new_finished_games,
        read_retrains,
    )
    from gameline.tasks.records import FileRecords

    starts = [NOW - timedelta(days=d) for d in (20, 12, 9, 6, 5, 4, 1)]
    games = pd.DataFrame(
        {
            "status": ["final"] * 6 + ["scheduled"],
            "start_time": pd.to_datetime(starts, utc=True),
        }
    )
    assert new_finished_games(games, None) == 6
    assert new_finished_games(games, NOW - timedelta(days=9)) == 3  # 6, 5, 4 days ago
    log = FileRecords(tmp_path)
    assert read_retrains(log) == [] and last_retrain([]) is None
    earlier = decide(manual=True, data_until=NOW - timedelta(days=9), now=NOW - timedelta(days=8))
    append_retrain(log, decide())  # a day without a retrain, then one
    append_retrain(log, earlier)
    previous = last_retrain(read_retrains(log))
    assert previous == earlier and len(read_retrains(log)) == 2

    def from_history(minimum: int) -> Any:
        return decide_from_history(
            request=None,
            champion="3",
            trained_until=NOW - timedelta(days=15),  # older than the last retrain's data
            previous=previous,
            games=games,
            active_kinds={"data_drift"},
            now=NOW,
            cfg=RetrainConfig(),
            min_new_games=minimum,
        )

    enough = from_history(3)
    assert enough.retrain and enough.trigger == "drift"
    assert enough.data_until == starts[5]  # the last final
    waiting = from_history(4)
    assert not waiting.retrain and waiting.blocked_by == "too few new games"
    assert "only 3 games finished since the last training (need 4" in waiting.detail
