"""Ingest flow: source -> staging -> validate (GE) -> upsert + manifest -> team features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

from gameline.flows.common import (
    ADAPTER_TASK,
    IO_RETRIES,
    ConfigRef,
    artifact_key,
    heal_task,
    log_stage,
    resolve,
    run_logger,
    run_name,
)
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.feature_sources import SourceIngest, ingest_sources
from gameline.tasks.data.ingest import (
    Manifest,
    StagedInput,
    read_store,
    repeated_manifest,
    stage_input,
    store_input,
)
from gameline.tasks.data.validate import CheckedInput, check_input
from gameline.tasks.facts import Facts, FactTable, facts_markdown
from gameline.tasks.features.store import (
    ApplySummary,
    MaterializeSummary,
    TeamFeatureStore,
    latest_feature_time,
)
from gameline.tasks.features.team import FeatureSummary, write_team_features

stage_task = task(stage_input, name="stage-input", **IO_RETRIES)
check_task = task(check_input, name="validate-input")
store_task = task(store_input, name="store-input")
features_task = task(write_team_features, name="team-features")
sources_task = task(ingest_sources, name="feature-sources")


@task(name="feast-apply", **IO_RETRIES, **ADAPTER_TASK)
def apply_task(store: TeamFeatureStore) -> ApplySummary:
    """Register the Feast definitions (idempotent)."""
    return store.apply()


@task(name="feast-materialize", **IO_RETRIES, **ADAPTER_TASK)
def materialize_task(store: TeamFeatureStore, end: datetime) -> MaterializeSummary:
    """Load the team states up to `end` into the online store and check it (idempotent)."""
    return store.refresh_online(end)


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


class FeastSummary(BaseModel):
    """What was registered in Feast and loaded into its online store (None: the online store
    was down and the run went on without it; `note` says so)."""

    apply: ApplySummary
    materialize: MaterializeSummary | None
    note: str | None = None

    def facts(self) -> Facts:
        """One line on what Feast holds now."""
        m = self.materialize
        if m is None:
            line = f"project {self.apply.project}: definitions applied; {self.note}"
        else:
            line = (
                f"project {self.apply.project}: {len(self.apply.objects)} objects applied; "
                f"online store loaded {m.start:%Y-%m-%d %H:%M} .. {m.end:%Y-%m-%d %H:%M} UTC "
                f"in {m.seconds:.2f} s"
            )
        return Facts(line=line, blocks=[line])


class IngestSummary(BaseModel):
    """What one ingest run did: the manifest, the validation outcome, the features written."""

    config: str
    state_dir: Path
    source: str
    skipped: bool
    manifest: Manifest
    report: Path | None
    features: FeatureSummary | None
    store: StoreSummary
    feast: FeastSummary | None = None
    note: str | None = None  # e.g. a lost game store rebuilt from an input seen before
    sources: list[SourceIngest] = []
    healed: list[str] = []  # derived stores found damaged and rebuilt

    def facts(self) -> Facts:
        """The counts, the rules broken and where everything is; the log line."""
        m, st = self.manifest, self.store
        seen = " (seen before: nothing new)" if self.skipped else ""
        seen += f" ({self.note})" if self.note else ""
        line = (
            f"ingest {self.source}{seen}: read {m.read}, new {m.new}, updated {m.updated}, "
            f"quarantined {m.quarantined}; store {st.games} games ({st.final} final, "
            f"{st.scheduled} scheduled)"
        )
        counts = ("read", "new", "updated", "duplicate", "quarantined", "repaired")
        blocks: list[FactTable | str] = [
            FactTable(
                f"Ingest {m.manifest_id} ({'skipped: seen before' if self.skipped else 'stored'})",
                counts,
                [tuple(str(getattr(m, c)) for c in counts)],
                right=counts,
            )
        ]
        if self.note:
            blocks.append(f"note: {self.note}")
        blocks += [f"rebuilt: {note}" for note in self.healed]
        if m.rules:
            rules = [(rule, str(n)) for rule, n in m.rules.items()]
            blocks.append(FactTable("Rules broken", ("rule", "rows"), rules, right=("rows",)))
        if self.sources:
            blocks.append(source_table(self.sources))
            blocks += [f"note: {s.source}: {s.note}" for s in self.sources if s.note]
        seasons = f", seasons {st.first_season}-{st.last_season}" if st.first_season else ""
        where = [
            ("source", self.source),
            (
                "game store",
                f"{st.games} games ({st.final} final, {st.scheduled} scheduled{seasons})",
            ),
            ("state folder", str(self.state_dir.resolve())),
        ]
        if m.quarantine_file:
            where.append(("quarantine", m.quarantine_file))
        if self.report:
            where.append(("validation report", str(self.report)))
        if f := self.features:
            where.append(
                (
                    "team features",
                    f"{f.path} ({f.rows} rows, {f.games} games, {f.teams} teams, "
                    f"{len(f.features)} features)",
                )
            )
        if self.feast:
            where.append(("feast", self.feast.facts().line))
        blocks.append(FactTable("Where things are", (), where))
        return Facts(line=line, blocks=blocks)


def source_table(sources: list[SourceIngest]) -> FactTable:
    """One row per feature source: what this ingest read, stored and refused, and why."""
    rows = []
    for s in sources:
        m = s.manifest
        rules = "; ".join(f"{rule} ({n})" for rule, n in m.rules.items())
        rows.append(
            (
                s.source,
                s.kind,
                "seen before" if s.skipped else str(m.read),
                "0" if s.skipped else str(m.new),
                "0" if s.skipped else str(m.quarantined),
                str(s.stored),
                rules or "-",
            )
        )
    columns = ("source", "kind", "read", "new", "quarantined", "facts stored", "rules broken")
    return FactTable("Feature sources", columns, rows, right=("new", "quarantined", "facts stored"))


def publish_features(config: GamelineConfig, online_required: bool = True) -> FeastSummary:
    """Feast apply, then every team's current state loaded into the online store (called
    inside a flow). Without `online_required` (the daily run) an online store that is down is
    skipped with a note: the next load catches up from its watermark, and predictions come from
    the offline store meanwhile."""
    store = TeamFeatureStore.from_config(config)
    applied: ApplySummary = apply_task(store)
    down = None if online_required else store.online_down()
    if down:
        note = f"{down}; not loaded this run (predictions use the offline store)"
        run_logger().warning("online store not loaded: %s", down)
        return FeastSummary(apply=applied, materialize=None, note=note)
    latest = latest_feature_time(state_paths(config).team_states)  # the team views' end
    end = (latest or datetime.now(UTC)) + timedelta(seconds=1)
    loaded: MaterializeSummary = materialize_task(store, end)
    return FeastSummary(apply=applied, materialize=loaded)


@flow(name="features", flow_run_name=run_name("features"))
def feature_store_flow(config: ConfigRef) -> FeastSummary:
    """Rebuild the team features and states from the game store, register the Feast
    definitions and load every team's current state into the online store."""
    config = resolve(config, "features")
    features_task(config)
    return publish_features(config)


@flow(name="ingest", flow_run_name=run_name("ingest"), log_prints=False)
def ingest_flow(config: ConfigRef, file: Path | None = None) -> IngestSummary:
    """Ingest one input (the configured source or `file`), validate it, rebuild team features,
    then register and materialize them in Feast."""
    config = resolve(config, "ingest")
    return ingest_stage(config, file)


def ingest_stage(
    config: GamelineConfig, file: Path | None = None, online_required: bool = True
) -> IngestSummary:
    """The ingest flow's tasks, run inside whichever flow calls this (a subflow run costs about
    a second of Prefect's time; the daily flow runs its stages as tasks)."""
    now = datetime.now(UTC)
    healed: list[str] = heal_task(config)
    staged: StagedInput = stage_task(config, file)
    report = None
    if staged.earlier is not None:
        manifest = repeated_manifest(staged.earlier)
    else:
        checked: CheckedInput = check_task(config, staged.path, staged.label, now)
        manifest = store_task(config, staged, checked, now)
        report = checked.report_path
    sources: list[SourceIngest] = sources_task(config, now, file) if config.features.sources else []
    # Rebuilt unless built from exactly these games, facts, settings and code (fingerprint.py).
    features = features_task(config, reuse=True)
    summary = IngestSummary(
        config=config.name,
        state_dir=config.state_dir,
        source=staged.label,
        skipped=staged.earlier is not None,
        manifest=manifest,
        report=report,
        features=features,
        store=store_summary(config),
        feast=publish_features(config, online_required),
        note=staged.restoring,
        sources=sources,
        healed=healed,
    )
    facts = summary.facts()
    create_markdown_artifact(
        facts_markdown(f"Ingest of {summary.config}", facts),
        key=artifact_key(f"ingest-{summary.config}"),
        description="Gameline ingest",
        _sync=True,  # also from the async daily flow's body
    )
    log_stage(facts.line)
    return summary
