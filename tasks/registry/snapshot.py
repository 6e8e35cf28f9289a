"""The registry as `gameline status` shows it (the models behind the aliases, their training
window and headline scores), recorded after every change this pipeline makes to it (a
registration, a gate decision, a rollback), so `status` answers without starting an MLflow
client (about 1.5-3 s of imports and store set-up). `status --live` asks MLflow itself."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from gameline.tasks.records import SNAPSHOT, RecordStore, parse_doc
from gameline.tasks.registry.aliases import ALIASES
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.storage import disk_trouble, json_text

HEADLINE_METRICS = ("log_loss", "brier", "ece")


class ModelStatus(BaseModel):
    """One alias: its version, training window and out-of-fold scores."""

    alias: str
    version: str
    run_id: str | None
    family: str | None
    trained_from: str | None
    trained_until: str | None
    train_games: int | None
    metrics: dict[str, float]
    gate_decision: str | None

    def row(self) -> tuple[str, ...]:
        """The alias as a status row: version, family, training window, out-of-fold scores."""
        scores = (f"{self.family}_log_loss", f"{self.family}_ece", "elo_log_loss")
        return (
            self.alias,
            self.version,
            self.family or "-",
            (self.trained_from or "-")[:16],
            (self.trained_until or "-")[:16],
            str(self.train_games or "-"),
            *(f"{v:.4f}" if (v := self.metrics.get(k)) is not None else "-" for k in scores),
        )


class RegistrySnapshot(BaseModel):
    """The models behind the aliases, as recorded at `recorded_at`."""

    model: str
    recorded_at: datetime
    models: list[ModelStatus]


def model_status(registry: Registry, alias: str) -> ModelStatus | None:
    version = registry.alias_version(alias)
    if version is None:
        return None
    tags = registry.version_tags(version)
    run_id = tags.get("run_id")
    family = tags.get("family")
    metrics: dict[str, float] = {}
    if run_id:
        logged = registry.run_metrics(run_id)
        for name in (family or "", "elo"):
            for metric in HEADLINE_METRICS:
                if f"{name}_{metric}" in logged:
                    metrics[f"{name}_{metric}"] = logged[f"{name}_{metric}"]
    return ModelStatus(
        alias=alias,
        version=version,
        run_id=run_id,
        family=family,
        trained_from=tags.get("trained_from"),
        trained_until=tags.get("trained_until"),
        train_games=int(tags["train_games"]) if "train_games" in tags else None,
        metrics=metrics,
        gate_decision=tags.get("gate_decision"),
    )


def registry_snapshot(registry: Registry, now: datetime) -> RegistrySnapshot:
    """The models behind the aliases, asked of MLflow now."""
    models = [m for alias in ALIASES if (m := model_status(registry, alias)) is not None]
    return RegistrySnapshot(model=registry.model_name, recorded_at=now, models=models)


def record_snapshot(registry: Registry, records: RecordStore, now: datetime) -> RegistrySnapshot:
    """Ask MLflow and record the answer (atomically) for `status`; a state folder that cannot
    be written (full, read-only) leaves it unrecorded: it is a cache."""
    snapshot = registry_snapshot(registry, now)
    try:
        records.write_doc(SNAPSHOT, json_text(snapshot.model_dump(mode="json")))
    except OSError as exc:
        if disk_trouble(exc) is None:
            raise
    return snapshot


def read_snapshot(records: RecordStore) -> RegistrySnapshot | None:
    return parse_doc(records, SNAPSHOT, RegistrySnapshot.model_validate_json)
