"""Gated promotion, rollback and the audit log for real: trained versions in MLflow, the gate
and rollback flows under Prefect, two promotions racing in two processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gameline.flows.promote import gate_flow, rollback_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig
from gameline.tasks.registry.promote import (
    CHAMPION,
    PREVIOUS,
    Decision,
    PromotionError,
    alias_version,
    apply_decision,
    latest_decision,
    read_audit_log,
    version_tags,
)
from gameline.tasks.registry.tracking import CHALLENGER, model_name, tracking_uri
from tests.unit.test_feature_store import ingested

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def fatigue_league(
    sim_config: Callable[..., GamelineConfig],
    ingest: bool = True,
    **overrides: dict[str, object],
) -> GamelineConfig:
    """Four seasons of 16 teams (ingested unless told not to). Back-to-backs cost 4 points,
    which Elo cannot see, so a model with the rest features beats it on a 1,000-game window."""
    base: dict[str, object] = {
        "source": {
            "simulator": {
                "n_teams": 16,
                "n_seasons": 4,
                "games_per_team": 82,
                "fatigue_pts": 4.0,
                **overrides.pop("simulator", {}),
            }
        },
        "train": {"min_train_seasons": 3},
        "gate": {"window_games": 1000, "min_games": 300},
    }
    config = sim_config(**base, **overrides)
    if ingest:
        ingested(config)
    return config


@pytest.fixture
def league(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return fatigue_league(sim_config)


def with_changes(config: GamelineConfig, **sections: dict[str, object]) -> GamelineConfig:
    updates = {
        name: getattr(config, name).model_copy(update=values) for name, values in sections.items()
    }
    return config.model_copy(update=updates)


def test_promote_reject_worse_and_roll_back(league: GamelineConfig) -> None:
    first = train_flow(league)
    promoted = gate_flow(league)
    assert promoted.applied == "promoted" and promoted.decision.champion_version is None
    assert alias_version(league, CHAMPION) == first.model_version
    assert alias_version(league, CHALLENGER) is None  # the challenger became the champion
    tags = version_tags(league, first.model_version)
    assert tags["gate_decision"] == "promote" and tags["gate_interval"] == ""

    # The same data again: no evidence of an improvement, the interval says so.
    second = train_flow(league)
    same = gate_flow(league)
    assert same.applied == "rejected" and same.champion == first.model_version
    assert same.decision.diff_high is not None and same.decision.diff_high >= 0
    assert same.decision.champion_source == "retrained"  # v1 trained on the window's games
    assert alias_version(league, CHALLENGER) == second.model_version

    # Most features removed: worse than the champion and than Elo.
    worse = train_flow(with_changes(league, train={"features": ["games_played", "rest_days"]}))
    rejected = gate_flow(league, worse.model_version)
    failed = {c.name for c in rejected.decision.checks if not c.passed}
    assert rejected.applied == "rejected" and {"beats Elo", "beats champion"} <= failed
    assert alias_version(league, CHAMPION) == first.model_version

    # A team policy that keeps the freshest model unless it is worse by 0.002: v2 goes in.
    fresher = gate_flow(with_changes(league, gate={"margin": 0.002}), second.model_version)
    assert fresher.applied == "promoted"
    assert fresher.decision.reason.startswith("not worse than the champion by more than")
    assert alias_version(league, CHAMPION) == second.model_version
    assert alias_version(league, PREVIOUS) == first.model_version
    assert alias_version(league, CHALLENGER) == worse.model_version  # not the one promoted

    back = rollback_flow(league, reason="test rollback")
    assert (back.from_version, back.to_version) == (second.model_version, first.model_version)
    assert alias_version(league, CHAMPION) == first.model_version
    assert alias_version(league, PREVIOUS) == second.model_version

    moves = [(m.alias, m.from_version, m.to_version) for m in read_audit_log(league)]
    v1, v2 = first.model_version, second.model_version
    assert moves == [
        (CHAMPION, None, v1),
        (CHALLENGER, v1, None),
        (PREVIOUS, None, v1),
        (CHAMPION, v1, v2),
        (CHAMPION, v2, v1),
        (PREVIOUS, v1, v2),
    ]
    log = read_audit_log(league)
    assert all(m.reason and m.time and m.run_id for m in log if m.to_version)
    assert log[-1].reason == "rollback: test rollback"
    assert latest_decision(league) is not None

    with pytest.raises(PromotionError, match="already the champion"):
        rollback_flow(league, to=first.model_version)
    with pytest.raises(PromotionError, match="no version 99"):
        rollback_flow(league, to="99")


def _promote_in_process(config_json: str, version: str, champion: str, queue: object) -> None:
    """Apply a passing decision for `version` against `champion` (run in a child process)."""
    config = GamelineConfig.model_validate_json(config_json)
    now = datetime.now(UTC)
    decision = Decision(
        promote=True,
        reason="test",
        challenger_version=version,
        champion_version=champion,
        champion_source="registered",
        games=1000,
        window_start=now,
        window_end=now,
        challenger_log_loss=0.5,
        champion_log_loss=0.6,
        elo_log_loss=0.6,
        challenger_ece=0.01,
        diff_mean=-0.1,
        diff_low=-0.2,
        diff_high=-0.05,
        confidence=0.9,
        margin=0.0,
        checks=[],
        decided_at=now,
    )
    queue.put((version, apply_decision(config, decision, now).applied))  # type: ignore[attr-defined]


def test_two_promotions_at_once_leave_exactly_one_champion(league: GamelineConfig) -> None:
    from mlflow.tracking import MlflowClient

    record = train_flow(league)
    gate_flow(league)  # v1 champion
    client = MlflowClient(tracking_uri(league))
    source = client.get_model_version(model_name(league), record.model_version)
    extra = [
        client.create_model_version(model_name(league), source.source, source.run_id).version
        for _ in range(2)
    ]
    for version in extra:
        client.set_model_version_tag(model_name(league), str(version), "run_id", source.run_id)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    racers = [
        context.Process(
            target=_promote_in_process,
            args=(league.model_dump_json(), str(v), record.model_version, queue),
        )
        for v in extra
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
        assert racer.exitcode == 0
    results = dict(queue.get(timeout=5) for _ in racers)
    assert sorted(results.values()) == ["promoted", "superseded"]
    winner = next(v for v, applied in results.items() if applied == "promoted")
    assert alias_version(league, CHAMPION) == winner
    assert alias_version(league, PREVIOUS) == record.model_version
    champion_moves = [m for m in read_audit_log(league) if m.alias == CHAMPION]
    assert [(m.from_version, m.to_version) for m in champion_moves] == [
        (None, record.model_version),
        (record.model_version, winner),
    ]
