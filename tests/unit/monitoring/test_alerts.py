"""Alert episodes: one notification per episode, resolved when a check no longer finds it,
untouched by a check without enough data; messages say what, how much, against what, when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gameline.tasks.monitoring.alerts import (
    Finding,
    alert_message,
    read_alerts,
    update_alerts,
    write_alerts,
)
from gameline.tasks.records import FileRecords

DAY = datetime(2026, 2, 1, tzinfo=UTC)


def finding(value: float = 31.0) -> Finding:
    return Finding(
        kind="miscalibration",
        summary="served home-win probabilities are higher than the results",
        value=value,
        threshold=25.0,
        window="320 finished games served since 2026-01-15",
        since=DAY - timedelta(days=9),
        report="/state/reports/monitor/x.html",
    )


def test_an_episode_notifies_once_then_resolves(tmp_path: Path) -> None:
    path = FileRecords(tmp_path)
    first = update_alerts([], [finding()], {"miscalibration"}, "m", "1", DAY)
    assert len(first.opened) == 1 and not first.continuing
    write_alerts(path, first.alerts)
    second = update_alerts(
        read_alerts(path), [finding(40.0)], {"miscalibration"}, "m", "1", DAY + timedelta(1)
    )
    assert not second.opened and second.continuing[0].value == 40.0  # no second notification
    assert second.continuing[0].since == first.opened[0].since
    unknown = update_alerts(second.alerts, [], set(), "m", "1", DAY + timedelta(2))
    assert not unknown.resolved and not unknown.alerts[0].resolved  # no data: no verdict
    done = update_alerts(unknown.alerts, [], {"miscalibration"}, "m", "1", DAY + timedelta(3))
    assert done.resolved and done.alerts[0].resolved and done.alerts[0].resolved_at
    again = update_alerts(
        done.alerts, [finding()], {"miscalibration"}, "m", "1", DAY + timedelta(4)
    )
    assert len(again.opened) == 1 and len(again.alerts) == 2  # a new episode


def test_the_message_says_what_how_much_against_what_and_where() -> None:
    alert = update_alerts([], [finding()], {"miscalibration"}, "gameline-nba", "3", DAY).opened[0]
    title, body = alert_message(alert)
    assert "miscalibration" in title and "gameline-nba v3" in title
    for part in ("higher than the results", "31.0000", "25.0000", "320 finished games",
                 "since 2026-01-23", "x.html"):  # fmt: skip
        assert part in body
    resolved = alert.model_copy(update={"resolved": True, "resolved_at": DAY})
    assert "resolved" in alert_message(resolved)[0]


def test_old_reports_are_pruned_to_the_newest(tmp_path: Path) -> None:
    from gameline.tasks.storage import keep_newest

    for day in range(1, 6):
        (tmp_path / f"2026010{day}T000000Z-data-drift.html").write_text("x")
    (tmp_path / "20260101T000000Z-result.json").write_text("{}")
    removed = keep_newest(tmp_path, "*-data-drift.html", 2)
    assert [p.name[:8] for p in removed] == ["20260101", "20260102", "20260103"]
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "20260101T000000Z-result.json"
