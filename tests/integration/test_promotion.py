"""Gated promotion, rollback and the audit log for real: trained versions in MLflow, the gate
and rollback flows under Prefect, two promotions racing in two processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gameline.flows.gate import gate_flow, rollback_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    AliasBook,
    AliasMove,
    PromotionError,
    apply_decision,
    latest_decision,
    read_audit_log,
)
from gameline.tasks.registry.gate import Decision
from gameline.tasks.registry.mlflow_registry import Registry
from tests.builders import fatigue_league, with_changes

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def league(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return fatigue_league(sim_config)


def audit(config: GamelineConfig) -> list[AliasMove]:
    return read_audit_log(records_for(config))


def book(config: GamelineConfig) -> AliasBook:
    return AliasBook(Registry.from_config(config), records_for(config), None)


@pytest.mark.slow(seconds=20)  # about this long: scheduled first
def test_promote_reject_worse_and_roll_back(league: GamelineConfig) -> None:
    registry = Registry.from_config(league)
    alias_version = registry.alias_version
    first = train_flow(league)
    promoted = gate_flow(league)
    assert promoted.applied == "promoted" and promoted.decision.champion_version is None
    assert alias_version(CHAMPION) == first.model_version
    assert alias_version(CHALLENGER) is None  # the challenger became the champion
    tags = registry.version_tags(first.model_version)
    assert tags["gate_decision"] == "promote" and tags["gate_interval"] == ""

    # The same data again: no evidence of an improvement, the interval says so.
    second = train_flow(league)
    same = gate_flow(league)
    assert same.applied == "rejected" and same.champion == first.model_version
    assert same.decision.diff_high is not None and same.decision.diff_high >= 0
    assert same.decision.champion_source == "retrained"  # v1 trained on the window's games
    assert alias_version(CHALLENGER) == second.model_version

    # Most features removed: worse than the champion and than Elo.
    worse = train_flow(with_changes(league, train={"features": ["games_played", "rest_days"]}))
    rejected = gate_flow(league, worse.model_version)
    failed = {c.name for c in rejected.decision.checks if not c.passed}
    assert rejected.applied == "rejected" and {"beats Elo", "beats champion"} <= failed
    assert alias_version(CHAMPION) == first.model_version

    # A team policy that keeps the freshest model unless it is worse by 0.002: v2 goes in.
    fresher = gate_flow(with_changes(league, gate={"margin": 0.002}), second.model_version)
    assert fresher.applied == "promoted"
    assert fresher.decision.reason.startswith("not worse than the champion by more than")
    assert alias_version(CHAMPION) == second.model_version
    assert alias_version(PREVIOUS) == first.model_version
    assert alias_version(CHALLENGER) == worse.model_version  # not the one promoted

    back = rollback_flow(league, reason="test rollback")
    assert (back.from_version, back.to_version) == (second.model_version, first.model_version)
    assert alias_version(CHAMPION) == first.model_version
    assert alias_version(PREVIOUS) == second.model_version

    moves = [(m.alias, m.from_version, m.to_version) for m in audit(league)]
    v1, v2 = first.model_version, second.model_version
    assert moves == [
        (CHAMPION, None, v1),
        (CHALLENGER, v1, None),
        (PREVIOUS, None, v1),
        (CHAMPION, v1, v2),
        (CHAMPION, v2, v1),
        (PREVIOUS, v1, v2),
    ]
    log = audit(league)
    assert all(m.reason and m.time and m.run_id for m in log if m.to_version)
    assert log[-1].reason == "rollback: test rollback"
    assert latest_decision(records_for(league)) is not None

    with pytest.raises(PromotionError, match="already the champion"):
        rollback_flow(league, to=first.model_version)
    with pytest.raises(PromotionError, match="no version 99"):
        rollback_flow(league, to="99")

    # A registration cut short (a version without its recipe tags, as a kill between
    # registering and tagging leaves it): never a rollback target, never served.
    from gameline.flows.predict import served_model

    bare = registry.register_again(first.model_version)
    assert "features" not in registry.version_tags(bare)
    with pytest.raises(PromotionError, match=f"v{bare} has no recipe tags"):
        rollback_flow(league, to=bare)
    registry.set_alias(CHALLENGER, bare)
    assert served_model(registry, CHALLENGER) is None  # not shadowed (it crashed predict)
    registry.set_alias(CHALLENGER, None)


def test_a_challenger_that_beats_elo_but_is_worse_than_the_champion_is_rejected(
    league: GamelineConfig,
) -> None:
    """The champion comparison alone keeps out a challenger that passes every absolute check:
    Elo ratings with rest days and back-to-backs (the fatigue Elo cannot see) serve; the same
    without back-to-backs still beats Elo, and is worse than the champion with evidence."""
    registry = Registry.from_config(league)
    strong = ["elo_pre", "back_to_back", "rest_days"]
    champion = train_flow(with_changes(league, train={"features": strong}))
    assert gate_flow(league).applied == "promoted"
    weaker = train_flow(with_changes(league, train={"features": ["elo_pre", "rest_days"]}))
    outcome = gate_flow(league, weaker.model_version)
    d = outcome.decision
    checks = {c.name: c for c in d.checks}
    assert (
        outcome.applied == "rejected" and registry.alias_version(CHAMPION) == champion.model_version
    )
    assert [name for name, c in checks.items() if not c.passed] == ["beats champion"]
    assert d.challenger_log_loss is not None and d.elo_log_loss is not None
    assert d.champion_log_loss is not None and d.diff_low is not None
    assert d.champion_log_loss < d.challenger_log_loss < d.elo_log_loss
    assert d.diff_low > 0  # the whole interval says worse
    assert "worse with evidence" in checks["beats champion"].detail
    assert registry.alias_version(CHALLENGER) == weaker.model_version


def passing(version: str, champion: str | None, decision_id: str = "") -> Decision:
    """A passing decision for `version` against `champion`."""
    now = datetime.now(UTC)
    return Decision(
        decision_id=decision_id,
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


def _promote_in_process(config_json: str, version: str, champion: str, queue: object) -> None:
    """Apply a passing decision for `version` against `champion` (run in a child process)."""
    config = GamelineConfig.model_validate_json(config_json)
    outcome = apply_decision(book(config), passing(version, champion), datetime.now(UTC))
    queue.put((version, outcome.applied))  # type: ignore[attr-defined]


def copies(registry: Registry, version: str, n: int) -> list[str]:
    """`n` new versions registered from the same run as `version`, with its run id tag."""
    made = [registry.register_again(version) for _ in range(n)]
    run_id = registry.version_tags(version)["run_id"]
    for copy in made:
        registry.set_version_tags(copy, {"run_id": run_id})
    return made


@pytest.mark.slow(seconds=19)  # about this long: scheduled first
def test_two_promotions_at_once_leave_exactly_one_champion(league: GamelineConfig) -> None:
    registry = Registry.from_config(league)
    record = train_flow(league)
    gate_flow(league)  # v1 champion
    extra = copies(registry, record.model_version, 2)
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
    assert registry.alias_version(CHAMPION) == winner
    assert registry.alias_version(PREVIOUS) == record.model_version
    champion_moves = [m for m in audit(league) if m.alias == CHAMPION]
    assert [(m.from_version, m.to_version) for m in champion_moves] == [
        (None, record.model_version),
        (record.model_version, winner),
    ]


def test_applying_a_decision_again_finishes_it_and_logs_nothing_twice(
    league: GamelineConfig,
) -> None:
    """A retry of the gate's apply step after a failure half-way (the audit line written, the
    alias not moved yet) finishes the promotion; a retry after it finished changes nothing."""
    registry = Registry.from_config(league)
    record = train_flow(league)
    gate_flow(league)  # v1 champion
    (new,) = copies(registry, record.model_version, 1)
    decision = passing(new, record.model_version, decision_id="d-retry")
    moves: list[str] = []

    class FailingOnce(Registry):
        def set_alias(self, alias: str, version: str | None) -> None:
            moves.append(alias)
            if alias == CHAMPION and moves.count(CHAMPION) == 1:
                raise ConnectionError("registry went away")
            super().set_alias(alias, version)

    flaky = FailingOnce(
        registry.tracking_uri,
        registry.model_name,
        registry.experiment,
        registry.artifact_location,
        registry.lock_path,
    )
    retried = AliasBook(flaky, records_for(league), None)
    with pytest.raises(ConnectionError):
        apply_decision(retried, decision, datetime.now(UTC))
    assert registry.alias_version(CHAMPION) == record.model_version  # not moved yet
    first = apply_decision(retried, decision, datetime.now(UTC))
    again = apply_decision(retried, decision, datetime.now(UTC))
    assert first.applied == again.applied == "promoted" and again.moves == []
    assert registry.alias_version(CHAMPION) == new
    assert registry.alias_version(PREVIOUS) == record.model_version
    logged = [
        (m.alias, m.from_version, m.to_version) for m in audit(league) if m.decision_id == "d-retry"
    ]
    assert logged == [(PREVIOUS, None, record.model_version), (CHAMPION, record.model_version, new)]
