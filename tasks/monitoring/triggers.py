"""Retraining only on a reason: a pure decision from what the monitor found, the champion's age
and the history of retrains. A cooldown and a minimum number of newly finished games keep an
ongoing problem from retraining in a loop; a manual request or a missing champion skip both."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import RetrainConfig
from gameline.tasks.facts import Facts
from gameline.tasks.monitoring.alerts import DEGRADATION_KINDS, DRIFT_KINDS
from gameline.tasks.records import RETRAINS, RecordStore, parse_lines

Trigger = Literal["manual", "no_champion", "degradation", "drift", "schedule"]


class RetrainDecision(BaseModel):
    """Whether this run retrains, on which trigger (or why not), with every reason found."""

    retrain: bool
    trigger: Trigger | None
    reasons: list[str]
    blocked_by: str | None = None
    detail: str
    decided_at: datetime
    data_until: datetime | None = None

    def facts(self) -> Facts:
        """Whether it retrains, on which trigger, and why."""
        line = f"{f'retrain ({self.trigger})' if self.retrain else 'no retrain'}: {self.detail}"
        return Facts(line=line, blocks=[line])


def decide_retrain(
    *,
    manual: bool,
    scheduled: bool = False,
    champion: str | None,
    trained_until: datetime | None,
    active_kinds: set[str],
    last_retrain: datetime | None,
    new_games: int,
    min_new_games: int,
    data_until: datetime | None,
    now: datetime,
    cfg: RetrainConfig,
) -> RetrainDecision:
    """The first trigger that holds, in the order manual, no champion, degradation, drift,
    schedule (the champion's age, or a `scheduled` retrain: the weekly deployment); then the
    cooldown and the minimum of new games (not for manual / no champion)."""
    reasons: list[tuple[Trigger, str]] = []
    if manual:
        reasons.append(("manual", "retrain asked for by hand"))
    if champion is None:
        reasons.append(("no_champion", "no champion yet"))
    degraded = sorted(active_kinds & set(DEGRADATION_KINDS))
    if cfg.on_degradation and degraded:
        reasons.append(("degradation", f"live performance alarm: {', '.join(degraded)}"))
    drifted = sorted(active_kinds & set(DRIFT_KINDS))
    if cfg.on_drift and drifted:
        reasons.append(("drift", f"drift: {', '.join(drifted)}"))
    if scheduled:
        reasons.append(("schedule", "the scheduled retrain"))
    age = now - trained_until if trained_until else None
    if cfg.max_champion_age_days and age and age > timedelta(days=cfg.max_champion_age_days):
        reasons.append(
            ("schedule", f"champion's data is {age.days} days old (> {cfg.max_champion_age_days})")
        )
    base = RetrainDecision(
        retrain=False,
        trigger=None,
        reasons=[text for _, text in reasons],
        detail="no trigger: no alarm, no drift, champion fresh enough",
        decided_at=now,
        data_until=data_until,
    )
    if not reasons:
        return base
    trigger, text = reasons[0]
    if trigger not in ("manual", "no_champion"):
        if last_retrain and now - last_retrain < timedelta(days=cfg.cooldown_days):
            return base.model_copy(
                update={
                    "blocked_by": "cooldown",
                    "detail": f"{text}, but the last retrain was {last_retrain:%Y-%m-%d %H:%M} "
                    f"UTC (cooldown {cfg.cooldown_days:g} days)",
                }
            )
        if new_games < min_new_games:
            return base.model_copy(
                update={
                    "blocked_by": "too few new games",
                    "detail": f"{text}, but only {new_games} games finished since the last "
                    f"training (need {min_new_games})",
                }
            )
    return base.model_copy(update={"retrain": True, "trigger": trigger, "detail": text})


def new_finished_games(games: pd.DataFrame, after: datetime | None) -> int:
    """Finished games that started after `after` (all of them without one)."""
    finals = games[games["status"] == "final"]
    if after is None:
        return len(finals)
    return int((finals["start_time"] > pd.Timestamp(after)).sum())


def decide_from_history(
    *,
    request: Literal["manual", "schedule"] | None,
    champion: str | None,
    trained_until: datetime | None,
    previous: RetrainDecision | None,
    games: pd.DataFrame,
    active_kinds: set[str],
    now: datetime,
    cfg: RetrainConfig,
    min_new_games: int,
) -> RetrainDecision:
    """`decide_retrain` from the game store and the last retrain: new games are the finals
    since the later of the champion's training end and the last retrain's data."""
    finals = games[games["status"] == "final"]
    since = max(
        (d for d in (trained_until, previous.data_until if previous else None) if d),
        default=None,
    )
    return decide_retrain(
        manual=request == "manual",
        scheduled=request == "schedule",
        champion=champion,
        trained_until=trained_until,
        active_kinds=active_kinds,
        last_retrain=previous.decided_at if previous else None,
        new_games=new_finished_games(games, since),
        min_new_games=min_new_games,
        data_until=finals["start_time"].max().to_pydatetime() if len(finals) else None,
        now=now,
        cfg=cfg,
    )


def read_retrains(records: RecordStore) -> list[RetrainDecision]:
    return parse_lines(records, RETRAINS, RetrainDecision.model_validate_json)


def append_retrain(records: RecordStore, decision: RetrainDecision) -> None:
    """One line per daily decision (the cooldown reads the last retrain from it)."""
    records.append_line(RETRAINS, json.dumps(json.loads(decision.model_dump_json())))


def last_retrain(decisions: list[RetrainDecision]) -> RetrainDecision | None:
    done = [d for d in decisions if d.retrain]
    return done[-1] if done else None
