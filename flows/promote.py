"""Gate and rollback flows: judge the challenger against the champion, move the aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from gameline.flows.ingest import IO_RETRIES
from gameline.flows.train import build_training_set
from gameline.tasks.config import GamelineConfig
from gameline.tasks.registry.promote import (
    CHAMPION,
    Evaluation,
    Outcome,
    PromotionError,
    Rollback,
    alias_version,
    apply_decision,
    decide,
    decision_markdown,
    evaluate,
    record_decision,
    rollback,
    version_recipe,
)
from gameline.tasks.registry.tracking import CHALLENGER, model_name


def _key(name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower())


@task(name="gate-evaluate", **IO_RETRIES)
def evaluate_versions(config: GamelineConfig, version: str | None) -> Evaluation:
    """Score the challenger (default: the `challenger` alias) and the champion on the gate
    window of the current training set."""
    challenger = version or alias_version(config, CHALLENGER)
    if challenger is None:
        raise PromotionError(f"{model_name(config)} has no {CHALLENGER} to judge; train first")
    champion = alias_version(config, CHAMPION)
    path, _ = build_training_set.fn(config)
    frame = pd.read_parquet(path)
    return evaluate(
        config,
        frame,
        version_recipe(config, challenger),
        version_recipe(config, champion) if champion and champion != challenger else None,
    )


@task(name="gate-apply", **IO_RETRIES)
def decide_and_apply(config: GamelineConfig, evaluation: Evaluation) -> Outcome:
    """Decide, record the decision (version tags, JSON, Prefect artifact), move the aliases."""
    now = datetime.now(UTC)
    decision = decide(evaluation, config.gate, now)
    record_decision(config, decision)
    outcome = apply_decision(config, decision, now)
    markdown = decision_markdown(decision, model_name(config))
    if outcome.applied == "superseded":
        markdown += (
            f"\nNot applied: the champion changed to v{outcome.champion} while this was judged.\n"
        )
    create_markdown_artifact(
        key=_key(f"gate-{config.name}"), markdown=markdown, description=decision.reason[:200]
    )
    return outcome


@flow(name="gate")
def gate_flow(config: GamelineConfig, version: str | None = None) -> Outcome:
    """Judge a registered version (default: the challenger) against the champion and promote
    it if it passes."""
    return decide_and_apply(config, evaluate_versions(config, version))


@flow(name="rollback")
def rollback_flow(
    config: GamelineConfig, to: str | None = None, reason: str = "manual rollback"
) -> Rollback:
    """Point `champion` back at a version (default: `previous-champion`); audit-logged."""
    done = rollback(config, to, reason, datetime.now(UTC))
    create_markdown_artifact(
        key=_key(f"rollback-{config.name}"),
        markdown=(
            f"# Rollback of {model_name(config)}\n\nchampion v{done.from_version} -> "
            f"v{done.to_version} ({reason}).\n"
        ),
    )
    return done
