"""Gate and rollback flows: judge the challenger against the champion, move the aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from gameline.flows.common import (
    ADAPTER_TASK,
    IO_RETRIES,
    ConfigRef,
    artifact_key,
    flow_run_id,
    heal_task,
    log_stage,
    resolve,
    run_name,
    snapshot_task,
    tag_run,
    untagged_tasks,
)
from gameline.tasks.config import GamelineConfig
from gameline.tasks.model.dataset import build_training_set
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    AliasBook,
    Outcome,
    PromotionError,
    Rollback,
    apply_decision,
    record_decision,
    rollback,
)
from gameline.tasks.registry.evaluation import Evaluation, evaluate, version_recipe
from gameline.tasks.registry.gate import Decision, decide, decision_markdown
from gameline.tasks.registry.mlflow_registry import Registry


@task(name="gate-evaluate", **IO_RETRIES, **ADAPTER_TASK)
def evaluate_versions(
    registry: Registry, config: GamelineConfig, version: str | None
) -> Evaluation:
    """Score the challenger (default: the `challenger` alias) and the champion on the gate
    window of the current training set."""
    challenger = version or registry.alias_version(CHALLENGER)
    if challenger is None:
        raise PromotionError(f"{registry.model_name} has no {CHALLENGER} to judge; train first")
    champion = registry.alias_version(CHAMPION)
    path, _ = build_training_set(config)
    return evaluate(
        registry,
        pd.read_parquet(path),
        config.gate,
        version_recipe(registry, challenger),
        version_recipe(registry, champion) if champion and champion != challenger else None,
    )


# Both steps are idempotent (keyed by the decision), so they are safe to retry.
@task(name="gate-record", **IO_RETRIES, **ADAPTER_TASK)
def record_task(registry: Registry, config: GamelineConfig, decision: Decision) -> str:
    """The decision as version tags and a JSON document in the records."""
    return record_decision(registry, decision, records_for(config))


@task(name="gate-apply", **IO_RETRIES, **ADAPTER_TASK)
def apply_task(book: AliasBook, decision: Decision) -> Outcome:
    """Move the aliases for the decision under the registry lock."""
    return apply_decision(book, decision, datetime.now(UTC))


@flow(name="gate", flow_run_name=run_name("gate"))
def gate_flow(config: ConfigRef, version: str | None = None) -> Outcome:
    """Judge a registered version (default: the challenger) against the champion and promote
    it if it passes."""
    config = resolve(config, "gate")
    registry = Registry.from_config(config)
    with untagged_tasks():
        heal_task(config)
        evaluation = evaluate_versions(registry, config, version)
        decision = decide(evaluation, config.gate, datetime.now(UTC))
        record_task(registry, config, decision)
        book = AliasBook(registry, records_for(config), flow_run_id())
        outcome = apply_task(book, decision)
        snapshot_task(registry, config)
    markdown = decision_markdown(decision, registry.model_name)
    if outcome.applied == "superseded":
        markdown += (
            f"\nNot applied: the champion changed to v{outcome.champion} while this was judged.\n"
        )
    create_markdown_artifact(
        key=artifact_key(f"gate-{config.name}"),
        markdown=markdown,
        description=decision.reason[:200],
    )
    log_stage(outcome.facts().line)
    return outcome


@flow(name="rollback", flow_run_name=run_name("rollback"))
def rollback_flow(
    config: ConfigRef,
    to: str | None = None,
    reason: str = "manual rollback",
    requested_by: str | None = None,
) -> Rollback:
    """Point `champion` back at a version (default: `previous-champion`); audit-logged, with
    who asked (`requested_by`: the API token's name) when a person or bot asked remotely."""
    config = resolve(config, "rollback")
    if requested_by:
        tag_run(f"requested-by:{requested_by}")
    registry = Registry.from_config(config)
    book = AliasBook(registry, records_for(config), flow_run_id(), requested_by)
    done = rollback(book, to, reason, datetime.now(UTC))
    snapshot_task(registry, config)
    create_markdown_artifact(
        key=artifact_key(f"rollback-{config.name}"),
        markdown=(
            f"# Rollback of {registry.model_name}\n\nchampion v{done.from_version} -> "
            f"v{done.to_version} ({reason}).\n"
        ),
    )
    return done
