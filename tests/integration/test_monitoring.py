"""Monitoring for real, on simulated leagues: a home-advantage regime change is alerted within
a configured number of days, the webhook gets the notification, the daily run retrains and the
gate decides; a league with no change raises no alert over a whole season.

The champion's daily predictions are stood in for by its pyfunc on the point-in-time training
rows of the same games: the predict flow's test proves those are exactly what it serves, and
scoring a season day by day through the predict flow would take minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
import pytest

from gameline.flows.gate import gate_flow
from gameline.flows.monitor import monitor_flow
from gameline.flows.pipeline import pipeline_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig
from gameline.tasks.model.dataset import build_training_set
from gameline.tasks.model.inputs import model_example
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import CHAMPION, latest_decision
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predictions import store_predictions
from tests.builders import ingested
from tests.servers import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
CHANGE = datetime.fromisoformat("2026-01-15T00:00:00+00:00")
ALERT_WITHIN_DAYS = 30  # the regime change below must be alerted within this many days


def league(
    make: Callable[..., GamelineConfig], as_of: datetime, **simulator: object
) -> GamelineConfig:
    """Four seasons of 30 teams (about 7 games a day), results known up to `as_of`. The gate
    judges a refresh on 100 games, so a retrain waits for 200 new ones (a month after a change)."""
    sim = {"n_teams": 30, "n_seasons": 4, "games_per_team": 82, "upcoming_days": 0}
    return make(
        source={"simulator": {**sim, **simulator, "as_of": as_of.isoformat()}},
        train={"min_train_seasons": 2},
        gate={"min_games": 100},
    )


def serve(config: GamelineConfig, start: datetime, end: datetime) -> int:
    """The champion's predictions of the games in [start, end), as its daily runs served them."""
    registry = Registry.from_config(config)
    version = registry.alias_version(CHAMPION)
    assert version is not None
    features = registry.version_tags(version)["features"].split(",")
    path, _ = build_training_set(config)
    frame = pd.read_parquet(path)
    rows = frame[
        (frame["event_timestamp"] >= pd.Timestamp(start))
        & (frame["event_timestamp"] < pd.Timestamp(end))
    ]
    p = registry.load_version(version).predict(model_example(rows, features))
    store_predictions(
        records_for(config),
        pd.DataFrame(
            {
                "game_id": rows["game_id"].astype(str).to_numpy(),
                "start_time": rows["event_timestamp"].to_numpy(),
                "p_home": p,
                "served_by": "champion",
                "model_version": version,
                "predicted_at": (rows["event_timestamp"] - pd.Timedelta(hours=12)).to_numpy(),
            }
        ),
    )
    return len(rows)


@pytest.mark.slow(seconds=18)  # about this long: scheduled first
def test_a_regime_change_is_alerted_retrained_and_gated(
    sim_config: Callable[..., GamelineConfig], receiver: Receiver
) -> None:
    regime = {"seed": 2, "regime_change": {"start": "2026-01-15", "home_advantage_pts": -3.0}}
    before = league(sim_config, CHANGE, **regime)
    ingested(before)
    train_flow(before)
    assert gate_flow(before).applied == "promoted"  # v1: trained before the change
    end = CHANGE + timedelta(days=41)
    after = league(sim_config, end, **regime)
    ingested(after)
    assert serve(after, CHANGE, end) > 250

    daily = asyncio.run(pipeline_flow(after, now=end))
    opened = {a.kind: a for a in daily.monitor.opened}
    assert set(opened) == {"miscalibration", "excess_loss"}, [a.summary for a in opened.values()]
    alert = opened["miscalibration"]
    assert "higher than the results" in alert.summary and alert.detected_at is not None
    assert (alert.detected_at - CHANGE) <= timedelta(days=ALERT_WITHIN_DAYS)
    # The excess-loss alert says what its sequential test found: a run of games above the promise.
    excess = opened["excess_loss"].summary
    assert "lost more than the" in excess and "CUSUM reached" in excess, excess
    titles = sorted(str(body["title"]) for body in receiver.bodies)
    assert len(titles) == 2 and "excess_loss" in titles[0] and "miscalibration" in titles[1]
    assert any("higher than the results" in str(b["message"]) for b in receiver.bodies)
    assert daily.monitor.event == "gameline.drift.detected"
    assert daily.retrain.retrain and daily.retrain.trigger == "degradation"
    assert daily.training is not None and daily.gate is not None
    decision = latest_decision(records_for(after))
    assert decision is not None and decision.challenger_version == daily.training.model_version
    run = Registry.from_config(after).run_data(daily.training.run_id)
    assert run.tags["retrain_trigger"] == "degradation"
    logged = read_alerts(records_for(after))
    assert sorted(a.kind for a in logged if not a.resolved) == ["excess_loss", "miscalibration"]

    decided = daily.gate.decision
    print(  # the evidence, with `pytest -s -k regime`
        f"\nchange {CHANGE:%Y-%m-%d}; calibration alarm at the game of "
        f"{alert.detected_at:%Y-%m-%d} (run-up since {alert.since:%Y-%m-%d}); alert raised by "
        f"the run of {end:%Y-%m-%d}\nnotifications received: {receiver.bodies}\nretrain: "
        f"{daily.retrain.trigger} ({daily.retrain.detail}) -> v{daily.training.model_version}; "
        f"gate: {daily.gate.applied}: {decided.reason}"
    )

    # The next day: the episode goes on, nobody is notified again, the cooldown holds.
    next_day = asyncio.run(pipeline_flow(after, now=end + timedelta(days=1)))
    assert not next_day.monitor.opened and len(receiver.bodies) == 2
    assert not next_day.retrain.retrain and next_day.retrain.blocked_by == "cooldown"
    assert "live performance alarm" in next_day.retrain.detail  # the reason it would have had


@pytest.mark.slow(seconds=38)  # about this long: scheduled first
def test_a_league_with_no_change_raises_no_alert_over_a_season(
    sim_config: Callable[..., GamelineConfig], receiver: Receiver
) -> None:
    start = datetime.fromisoformat("2025-10-20T00:00:00+00:00")  # the last season's first day
    before = league(sim_config, start, seed=1)
    ingested(before)
    train_flow(before)
    assert gate_flow(before).applied == "promoted"
    end = datetime.fromisoformat("2026-04-20T00:00:00+00:00")
    after = league(sim_config, end, seed=1)
    ingested(after)
    assert serve(after, start, end) > 1000
    checked = set()
    for day in pd.date_range(start + timedelta(days=14), end, freq="14D"):
        summary = monitor_flow(after, now=day.to_pydatetime())
        assert summary.opened == [], [a.summary for a in summary.opened]
        checked |= set(summary.result.checked)
    assert {"data_drift", "prediction_drift", "miscalibration", "excess_loss"} <= checked
    assert read_alerts(records_for(after)) == [] and receiver.bodies == []
