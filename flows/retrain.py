"""Retraining on a reason: the decision (shared by the daily flow and the `retrain` deployment)
and the retrain flow itself: ingest -> train -> gate, run by hand, weekly, or on
`gameline.drift.detected`. It ingests first, so that it trains on the source as it is now on
whichever worker it runs (one whose state folder is new or behind the others included)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import pandas as pd
from prefect import flow, tags, task
from pydantic import BaseModel

from gameline.flows.common import (
    ADAPTER_TASK,
    ConfigRef,
    log_stage,
    resolve,
    run_name,
    run_tags,
    subflows,
    tag_run,
)
from gameline.flows.gate import gate_flow
from gameline.flows.ingest import IngestSummary, ingest_stage
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.monitoring.triggers import (
    RetrainDecision,
    append_retrain,
    decide_from_history,
    last_retrain,
    read_retrains,
)
from gameline.tasks.records import RETRAINS, records_for
from gameline.tasks.registry.aliases import CHAMPION, Outcome
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.registry.tracking import TrainingRecord

# How a retrain was asked for: by hand, by the weekly schedule, by a drift event (a choice
# in the Prefect UI's run form).
Request = Literal["manual", "schedule", "drift"]


class RetrainSummary(BaseModel):
    """A retrain run: its ingest, the decision, and the training and gate when it went
    ahead."""

    ingest: IngestSummary | None = None
    retrain: RetrainDecision
    training: TrainingRecord | None = None
    gate: Outcome | None = None


# No retries: the decision is appended to the retrain log (the cooldown reads it).
@task(name="retrain-decision", **ADAPTER_TASK)
def retrain_decision(
    config: GamelineConfig,
    registry: Registry,
    active_kinds: set[str],
    request: Literal["manual", "schedule"] | None,
    now: datetime,
) -> RetrainDecision:
    """Whether to retrain now, and on which trigger; appended to the retrain log. Under a lock,
    so a daily run and a drift-triggered retrain that decide at once cannot both retrain: the
    second sees the first in the log and waits out the cooldown."""
    paths = state_paths(config)
    champion = registry.alias_version(CHAMPION)
    trained_until = (
        pd.Timestamp(registry.version_tags(champion)["trained_until"]).to_pydatetime()
        if champion
        else None
    )
    games = read_store(paths.raw_games)
    records = records_for(config)
    with records.lock(RETRAINS):
        decision = decide_from_history(
            request=request,
            champion=champion,
            trained_until=trained_until,
            previous=last_retrain(read_retrains(records)),
            games=games,
            active_kinds=active_kinds,
            now=now,
            cfg=config.retrain,
            min_new_games=config.retrain_min_new_games,
        )
        append_retrain(records, decision)
    log_stage(decision.facts().line)
    return decision


def open_alert_kinds(config: GamelineConfig, champion: str | None) -> set[str]:
    """The kinds of the alerts open now about the champion (what the last monitor run found);
    an alert about an earlier champion is no reason to retrain this one (it retrained in a
    loop: a new champion has too few served games to resolve its predecessor's alarm)."""
    return {
        a.kind
        for a in read_alerts(records_for(config))
        if not a.resolved and a.model_version == champion
    }


@flow(name="retrain", flow_run_name=run_name("retrain", "trigger"))
def retrain_flow(
    config: ConfigRef,
    trigger: Request = "manual",
    reason: str = "",
    requested_by: str | None = None,
    kinds: list[str] | None = None,
    champion_version: str | None = None,
) -> RetrainSummary:
    """Ingest, then retrain and gate the challenger (the arguments' descriptions are the
    Prefect UI run form's).

    Args:
        config: the YAML config file, relative to the folder runs start in.
        trigger: manual always retrains; schedule (the weekly deployment) and drift (the
            gameline.drift.detected event) go through the daily run's decision: the cooldown
            and the minimum of newly finished games.
        reason: why, in the training run's tags.
        requested_by: who asked remotely (the API token's name), a tag of the run.
        kinds: the alert kinds the drift event's monitor run found; a worker that never saw
            that alert (another machine, no shared record store) decides from them too.
        champion_version: the champion those alerts are about (they count only while it is
            still the champion).
    """
    ref, config = config, resolve(config, "retrain")
    asked = [f"requested-by:{requested_by}"] if requested_by else []
    tag_run(*run_tags(config, f"trigger:{trigger}", *asked))
    ingested = ingest_stage(config, online_required=False)
    registry = Registry.from_config(config)
    champion = registry.alias_version(CHAMPION)
    reported = set(kinds or []) if champion_version == champion else set()
    decision = retrain_decision(
        config,
        registry,
        open_alert_kinds(config, champion) | reported,
        None if trigger == "drift" else trigger,
        datetime.now(UTC),
    )
    summary = RetrainSummary(ingest=ingested, retrain=decision)
    if decision.retrain:
        why = {
            "retrain_trigger": str(decision.trigger),
            "retrain_reason": reason or decision.detail,
            **({"retrain_requested_by": requested_by} if requested_by else {}),
        }
        with tags(*run_tags(config, f"trigger:{decision.trigger}")), subflows():
            summary.training = train_flow(ref, why)
            summary.gate = gate_flow(ref, summary.training.model_version)
    return summary
