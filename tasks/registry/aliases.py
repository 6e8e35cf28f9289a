"""Aliases, decisions and the audit log: what the gate's decisions and rollbacks do.

The aliases are `champion`, `challenger` and `previous-champion`. Every move happens under the
registry's lock (so two promotions never interleave) and is written to the audit log before the
alias moves, keyed by the decision it carries out: applying a decision again (a retry after a
failure half-way) finishes what is left and logs nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from gameline.tasks.facts import Facts, FactTable
from gameline.tasks.records import AUDIT, DECISIONS, RecordStore, parse_doc, parse_lines
from gameline.tasks.registry.evaluation import missing_recipe
from gameline.tasks.registry.gate import Decision
from gameline.tasks.registry.mlflow_registry import Registry, RegistryError
from gameline.tasks.storage import json_text

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)


class PromotionError(RegistryError):
    """A promotion or rollback cannot be done (no such version, nothing to roll back to)."""


class AliasMove(BaseModel):
    """One line of the audit log."""

    time: datetime
    model: str
    alias: str
    from_version: str | None
    to_version: str | None
    reason: str
    run_id: str | None
    flow_run_id: str | None
    decision_id: str | None = None
    requested_by: str | None = None  # who asked, by the API token's name (never the token)


def read_audit_log(records: RecordStore) -> list[AliasMove]:
    return parse_lines(records, AUDIT, AliasMove.model_validate_json)


def _logged(records: RecordStore, decision_id: str, alias: str) -> bool:
    """Whether the audit log already holds this decision's move of `alias`."""
    return bool(decision_id) and any(
        m.decision_id == decision_id and m.alias == alias for m in read_audit_log(records)
    )


class AliasBook:
    """The aliases of one registered model and their audit log; moves only under `lock`."""

    def __init__(
        self,
        registry: Registry,
        records: RecordStore,
        flow_run_id: str | None,
        requested_by: str | None = None,
    ) -> None:
        self.registry = registry
        self.records = records
        self.flow_run_id = flow_run_id
        self.requested_by = requested_by

    def move(
        self, alias: str, to: str | None, reason: str, now: datetime, decision_id: str = ""
    ) -> AliasMove | None:
        """Point `alias` at `to` (None: remove it), logging the move first; no move, no line.
        A move this decision already logged is carried out without a second line."""
        before = self.registry.alias_version(alias)
        if before == to:
            return None
        run_id = self.registry.version_tags(to).get("run_id") if to else None
        move = AliasMove(
            time=now,
            model=self.registry.model_name,
            alias=alias,
            from_version=before,
            to_version=to,
            reason=reason,
            run_id=run_id,
            flow_run_id=self.flow_run_id,
            decision_id=decision_id or None,
            requested_by=self.requested_by,
        )
        if not _logged(self.records, decision_id, alias):
            self.records.append_line(AUDIT, move.model_dump_json())
        self.registry.set_alias(alias, to)
        return move


class Outcome(BaseModel):
    """What applying a decision did."""

    decision: Decision
    applied: Literal["promoted", "rejected", "superseded"]
    champion: str | None
    moves: list[AliasMove]

    def facts(self) -> Facts:
        """The checks, what moved and why."""
        d = self.decision
        table = next(b for b in d.facts().blocks if isinstance(b, FactTable))
        verdict = f"{self.applied}: {d.reason}; champion now v{self.champion}"
        line = f"gate v{d.challenger_version}: {verdict}"
        return Facts(line=line, blocks=[table, verdict])


def record_decision(registry: Registry, decision: Decision, records: RecordStore) -> str:
    """Store the decision as tags on the challenger's version and a JSON document named by its
    time and version (the same decision twice writes the same document); returns where."""
    tags = {
        "gate_decision": "promote" if decision.promote else "reject",
        "gate_reason": decision.reason[:4000],
        "gate_games": str(decision.games),
        "gate_decided_at": decision.decided_at.isoformat(),
        "gate_champion_version": decision.champion_version or "",
        "gate_diff_mean": "" if decision.diff_mean is None else f"{decision.diff_mean:.6f}",
        "gate_interval": ""
        if decision.diff_low is None
        else f"[{decision.diff_low:.6f}, {decision.diff_high:.6f}]",
        "gate_challenger_log_loss": f"{decision.challenger_log_loss or float('nan'):.6f}",
    }
    registry.set_version_tags(decision.challenger_version, tags)
    stamp = decision.decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{DECISIONS}/{stamp}-v{decision.challenger_version}.json"
    records.write_doc(name, json_text(decision.model_dump(mode="json")))
    return records.where(name)


def recent_decisions(records: RecordStore, limit: int) -> list[Decision]:
    """The last `limit` gate decisions recorded, newest first."""
    names = records.doc_names(DECISIONS)[-limit:] if limit > 0 else []
    found = [parse_doc(records, name, Decision.model_validate_json) for name in reversed(names)]
    return [d for d in found if d is not None]


def latest_decision(records: RecordStore) -> Decision | None:
    found = recent_decisions(records, 1)
    return found[0] if found else None


def apply_decision(book: AliasBook, decision: Decision, now: datetime) -> Outcome:
    """Move the aliases for a decision, under the registry lock. A promotion judged against a
    champion that changed since (another retrain promoted first) is not applied. Idempotent:
    a decision whose champion move is already logged is finished, not judged superseded."""
    registry = book.registry
    with registry.lock():
        current = registry.alias_version(CHAMPION)
        if current is not None and registry.alias_version(CHALLENGER) == current:
            # A promotion cut short after its champion move (a killed gate): finish it.
            book.move(CHALLENGER, None, f"promoted to {CHAMPION} (finishing a cut-short move)", now)
        new = decision.challenger_version
        resumed = (
            decision.promote
            and current == new
            and _logged(book.records, decision.decision_id, CHAMPION)
        )
        if not resumed and current != decision.champion_version:
            return Outcome(decision=decision, applied="superseded", champion=current, moves=[])
        if not decision.promote:
            return Outcome(decision=decision, applied="rejected", champion=current, moves=[])
        reason, key = f"gate: {decision.reason}", decision.decision_id
        old = decision.champion_version
        moves = [
            book.move(PREVIOUS, old, reason, now, key) if old else None,
            book.move(CHAMPION, new, reason, now, key),
        ]
        if registry.alias_version(CHALLENGER) == new:  # the champion now, not a challenger
            moves.append(book.move(CHALLENGER, None, f"promoted to {CHAMPION}", now, key))
        return Outcome(
            decision=decision,
            applied="promoted",
            champion=new,
            moves=[m for m in moves if m is not None],
        )


class Rollback(BaseModel):
    """What a rollback did."""

    from_version: str
    to_version: str
    moves: list[AliasMove]

    def facts(self) -> Facts:
        """Which version the champion left and which it points at now."""
        line = f"champion v{self.from_version} -> v{self.to_version}"
        return Facts(line=line, blocks=[line])


def rollback(book: AliasBook, to: str | None, reason: str, now: datetime) -> Rollback:
    """Point `champion` back at `to` (default: the `previous-champion`); the replaced champion
    becomes `previous-champion`, so a second rollback undoes the first."""
    registry = book.registry
    name = registry.model_name
    with registry.lock():
        current = registry.alias_version(CHAMPION)
        if current is None:
            raise PromotionError(f"{name} has no champion to roll back")
        target = to or registry.alias_version(PREVIOUS)
        if target is None:
            raise PromotionError(f"{name} has no {PREVIOUS}; pass --to VERSION to choose one")
        try:
            missing = missing_recipe(registry.version_tags(target))
        except RegistryError as error:
            raise PromotionError(str(error)) from error
        if missing:
            raise PromotionError(
                f"v{target} has no recipe tags {missing}: its registration never completed, "
                "so it cannot serve; choose another version"
            )
        if target == current:
            raise PromotionError(f"v{target} is already the champion")
        text = f"rollback: {reason}"
        moves = [
            book.move(CHAMPION, target, text, now),
            book.move(PREVIOUS, current, text, now),
        ]
        return Rollback(
            from_version=current, to_version=target, moves=[m for m in moves if m is not None]
        )
