"""Ingest flow: source -> staging -> validate (GE) -> upsert + manifest -> team features."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

from tasks.config import GamelineConfig, state_paths
from tasks.features import FeatureSummary, write_team_features
from tasks.ingest import Manifest, StagedInput, read_store, stage_input, store_input
from tasks.validate import CheckedInput, check_input

IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}

stage_task = task(stage_input, name="stage-input", **IO_RETRIES)
check_task = task(check_input, name="validate-input")
store_task = task(store_input, name="store-input")
features_task = task(write_team_features, name="team-features")


class StoreSummary(BaseModel):
    """The game store after a run."""

    games: int
    final: int
    scheduled: int
    first_season: int | None
    last_season: int | None


def store_summary(config: GamelineConfig) -> StoreSummary:
    """Counts of the raw game store."""
    games = read_store(state_paths(config).raw_games)
    final = int((games["status"] == "final").sum())
    seasons = games["season"].dropna()
    return StoreSummary(
        games=len(games),
        final=final,
        scheduled=len(games) - final,
        first_season=int(seasons.min()) if len(seasons) else None,
        last_season=int(seasons.max()) if len(seasons) else None,
    )


class IngestSummary(BaseModel):
    """What one ingest run did: the manifest, the validation outcome, the features written."""

    config: str
    state_dir: Path
    source: str
    skipped: bool
    manifest: Manifest
    failed_rules: dict[str, int]
    report: Path | None
    features: FeatureSummary | None
    store: StoreSummary


def summary_markdown(summary: IngestSummary) -> str:
    """The ingest summary as a Prefect markdown artifact."""
    m = summary.manifest
    rules = (
        "\n".join(f"| {rule} | {n} |" for rule, n in summary.failed_rules.items()) or "| none | 0 |"
    )
    head = "Same content as an earlier ingest: nothing to do." if summary.skipped else ""
    return (
        f"# Ingest `{m.manifest_id}`\n{head}\n\n| read | new | updated | duplicate | quarantined |"
        f" repaired |\n|---|---|---|---|---|---|\n| {m.read} | {m.new} | {m.updated} | "
        f"{m.duplicate} | {m.quarantined} | {m.repaired} |\n\n| rule broken | rows |\n|---|---|\n"
        f"{rules}\n\nSource: `{summary.source}`"
    )


@flow(name="ingest", log_prints=False)
def ingest_flow(config: GamelineConfig, file: Path | None = None) -> IngestSummary:
    """Ingest one input (the configured source or `file`), validate it, rebuild team features."""
    now = datetime.now(UTC)
    staged: StagedInput = stage_task(config, file)
    if staged.earlier is not None:
        features_path = state_paths(config).team_features
        features = None if features_path.exists() else features_task(config)
        summary = IngestSummary(
            config=config.name,
            state_dir=config.state_dir,
            source=staged.label,
            skipped=True,
            manifest=staged.earlier.model_copy(
                update={
                    "new": 0,
                    "updated": 0,
                    "duplicate": staged.earlier.new
                    + staged.earlier.updated
                    + staged.earlier.duplicate,
                }
            ),
            failed_rules={},
            report=None,
            features=features,
            store=store_summary(config),
        )
    else:
        checked: CheckedInput = check_task(config, staged.path, staged.label, now)
        manifest: Manifest = store_task(config, staged, checked, now)
        summary = IngestSummary(
            config=config.name,
            state_dir=config.state_dir,
            source=staged.label,
            skipped=False,
            manifest=manifest,
            failed_rules=manifest.rules,
            report=checked.report_path,
            features=features_task(config),
            store=store_summary(config),
        )
    create_markdown_artifact(
        summary_markdown(summary), key="ingest-summary", description="Gameline ingest"
    )
    return summary
