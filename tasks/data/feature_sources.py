"""Ingest of the user's feature sources: read and typed (`source_rows`), validated with Great
Expectations, leakage refused, and each source's facts stored with a content-hashed manifest.

A source is declared in the config (`features.sources`, see `FeatureSourceConfig`): a file of
its own (CSV or parquet), the results file's own columns, or the simulator's table of its name.
Every row is typed by the source's contract (numbers, flags, categories with bounds) and matched
to a stored game (by id, or by local date + teams + game number) or team; the rows that break a
rule are quarantined with the rule, and past `max_bad_share` nothing is stored.

What leakage means here: a game fact whose `known_at` is after its game started, a timeline fact
stamped in the future, or a box score of a game that has not finished, are refused. What is
stored is only ever used point in time (`features.sources`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import FeatureSourceConfig, GamelineConfig, state_paths
from gameline.tasks.contracts import (
    PARSE_ERROR,
    SOURCE_LINE,
    ContractError,
)
from gameline.tasks.data.expectations import ROW, RuleResult, RuleSpec, run_rules
from gameline.tasks.data.ingest import Manifest, find_manifest, manifest_id_for
from gameline.tasks.data.source_rows import (
    KNOWN_AT,
    STORED_KEYS,
    read_source,
    source_frame,
    source_label,
    stamped_by,
)
from gameline.tasks.data.validate import RULES, ValidationFailed, league_teams, rule_counts
from gameline.tasks.provenance import code_version
from gameline.tasks.storage import store_lock, write_json, write_parquet

# Derived columns that only rules read.
CHECK_COLUMNS = ("matched", "finished", "known_in_time", "stamped_by_now", "start_time")
MATCHED = "matches a stored game"
UNIQUE = "one fact per key"


def source_rules(
    source: FeatureSourceConfig, config: GamelineConfig, now: datetime
) -> list[RuleSpec]:
    """The source's contract as Great Expectations rules."""
    specs: list[RuleSpec] = [
        ("every field parses", "ExpectColumnValuesToBeNull", {"column": PARSE_ERROR}),
        (UNIQUE, "ExpectColumnValuesToBeUnique", {"column": "_key"}),
    ]
    for name, spec in source.features.items():
        if spec.min is not None or spec.max is not None:
            bounds = f"{spec.min if spec.min is not None else '-inf'}.."
            bounds += f"{spec.max if spec.max is not None else 'inf'}"
            specs.append(
                (
                    f"{name} within {bounds}",
                    "ExpectColumnValuesToBeBetween",
                    {"column": name, "min_value": spec.min, "max_value": spec.max},
                )
            )
    if source.kind != "team_timeline":
        specs.append(
            (MATCHED, "ExpectColumnValuesToBeInSet", {"column": "matched", "value_set": [True]})
        )
    if source.kind == "game_facts":
        specs.append(
            (
                "known_at not after the game's start (leakage)",
                "ExpectColumnValuesToBeInSet",
                {"column": "known_in_time", "value_set": [True]},
            )
        )
    if source.kind == "team_game_stats":
        specs.append(
            (
                "the game has finished",
                "ExpectColumnValuesToBeInSet",
                {"column": "finished", "value_set": [True]},
            )
        )
    if source.kind != "game_facts":
        specs.append(("team is present", "ExpectColumnValuesToNotBeNull", {"column": "team"}))
        teams = league_teams(config)
        if teams:
            specs.append(
                (
                    "team is a league team",
                    "ExpectColumnValuesToBeInSet",
                    {"column": "team", "value_set": list(teams)},
                )
            )
    if source.kind == "team_timeline":
        specs += [
            ("known_at is present", "ExpectColumnValuesToNotBeNull", {"column": KNOWN_AT}),
            (
                "known_at not in the future (leakage)",
                "ExpectColumnValuesToBeInSet",
                {"column": "stamped_by_now", "value_set": [True]},
            ),
        ]
    return specs


@dataclass(frozen=True)
class SourceCheck:
    """A source's rows after its rules: kept, quarantined (with `rules`), and each rule."""

    kept: pd.DataFrame = field(repr=False)
    quarantined: pd.DataFrame = field(repr=False)
    results: list[RuleResult]


def check_rows(frame: pd.DataFrame, specs: list[RuleSpec]) -> SourceCheck:
    """Run the rules; of rows sharing a key, exact repeats keep their first row and conflicting
    ones all fail."""
    results = run_rules(frame, specs)
    out = []
    for result in results:
        if result.rule != UNIQUE or not result.failed:
            out.append(result)
            continue
        dup = frame.iloc[result.rows]
        variants = dup.drop_duplicates(subset=["_key", *feature_like(frame)]).groupby("_key").size()
        conflicting = dup["_key"].isin(variants[variants > 1].index)
        repeat = ~conflicting & dup.duplicated(subset="_key", keep="first")
        out.append(
            RuleResult(
                f"{UNIQUE} (repeated row)", result.expectation, dup.loc[repeat, ROW].to_numpy()
            )
        )
        out.append(
            RuleResult(
                f"{UNIQUE} (conflicting rows)",
                result.expectation,
                dup.loc[conflicting, ROW].to_numpy(),
            )
        )
    failing = [(r.rule, r.rows) for r in out if r.failed]
    rows = np.concatenate([r for _, r in failing]) if failing else np.empty(0, dtype=np.int64)
    names = np.concatenate([[n] * len(r) for n, r in failing]) if failing else np.empty(0)
    by_row = pd.DataFrame({ROW: rows, RULES: pd.Series(names, dtype="string")}).drop_duplicates()
    per_row = by_row.groupby(ROW)[RULES].agg("; ".join)
    bad = frame[ROW].isin(per_row.index).to_numpy()
    quarantined = frame[bad].copy()
    quarantined[RULES] = per_row.reindex(quarantined[ROW]).to_numpy()
    repeats = {r for r in per_row.index if per_row[r] == f"{UNIQUE} (repeated row)"}
    counted = quarantined[~quarantined[ROW].isin(repeats)]
    return SourceCheck(kept=frame[~bad].copy(), quarantined=counted, results=out)


def feature_like(frame: pd.DataFrame) -> list[str]:
    """The value columns of a checked frame (what a conflict differs in)."""
    skip = {ROW, SOURCE_LINE, PARSE_ERROR, "_key", RULES, *CHECK_COLUMNS}
    return [c for c in frame.columns if c not in skip]


class SourceIngest(BaseModel):
    """What one ingest of one feature source did."""

    source: str
    kind: str
    label: str
    skipped: bool
    manifest: Manifest
    stored: int
    unmatched: int = 0
    note: str | None = None

    def line(self) -> str:
        m = self.manifest
        if self.skipped:
            return f"{self.label}: seen before (manifest {m.manifest_id}): nothing new"
        unmatched = f", {self.unmatched} matching no game" if self.unmatched else ""
        note = f" ({self.note})" if self.note else ""
        return (
            f"{self.label}: read {m.read}, new {m.new}, quarantined {m.quarantined}{unmatched}; "
            f"{self.stored} facts stored{note}"
        )


def facts_hash(frame: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 of a source's typed facts, independent of row order."""
    ordered = frame[columns].sort_values(columns, kind="stable", na_position="last")
    digest = hashlib.sha256(",".join(columns).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def stored_columns(source: FeatureSourceConfig) -> list[str]:
    """The columns a source's stored facts hold."""
    keys = ["game_id", "team", KNOWN_AT]
    kinds = set(STORED_KEYS[source.kind]) | ({KNOWN_AT} if source.kind == "game_facts" else set())
    return [k for k in keys if k in kinds] + list(source.features)


def read_facts(path: Path, source: FeatureSourceConfig) -> pd.DataFrame:
    """A source's stored facts (empty, with its columns, before any)."""
    if path.exists():
        return pd.read_parquet(path)
    columns = stored_columns(source)
    dtypes = {"game_id": "string", "team": "string", KNOWN_AT: "datetime64[us, UTC]"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in columns})


def ingest_source(
    config: GamelineConfig,
    source: FeatureSourceConfig,
    now: datetime,
    games_file: Path | None = None,
) -> SourceIngest:
    """Read, check and store one feature source (idempotent: the same content twice adds
    nothing). ValidationFailed, storing nothing, when too many rows break a rule; a fact that
    conflicts with a stored one (same key, other values) is quarantined, never overwritten."""
    from gameline.tasks.data.ingest import read_store

    paths = state_paths(config)
    label = source_label(config, source)
    games = read_store(paths.raw_games)
    raw = read_source(config, source, games_file)
    if raw.empty:
        raise ContractError(f"feature source {label}: no rows: nothing to ingest")
    frame = source_frame(raw, source, config, games)
    if KNOWN_AT in frame:
        frame = stamped_by(frame, now)
    columns = stored_columns(source)
    digest = facts_hash(frame, columns)
    manifests = paths.feature_source(source.name) / "manifests"
    earlier = find_manifest(manifests, digest)
    facts_path = paths.source_facts(source.name)
    if earlier is not None and facts_path.exists():
        return SourceIngest(
            source=source.name,
            kind=source.kind,
            label=label,
            skipped=True,
            manifest=earlier,
            stored=len(pd.read_parquet(facts_path, columns=columns[:1])),
        )
    check = check_rows(frame, source_rules(source, config, now))
    bad_share = source.max_bad_share
    if bad_share is None:
        bad_share = config.validation.max_bad_share
    note = None
    with store_lock(paths.lock):
        stored = read_facts(facts_path, source)
        if set(stored.columns) != set(columns):  # the config changed the source's contract
            note = (
                f"the source's columns changed from {sorted(stored.columns)} to "
                f"{sorted(columns)}: its facts were rebuilt from this input (ingest its earlier "
                "files again if it had several)"
            )
            stored = read_facts(paths.root / "none", source)
            for old in manifests.glob("*.json"):
                old.unlink()
        merged, new, duplicate, conflicts = upsert_facts(stored, check.kept[columns], source)
        quarantined = pd.concat([check.quarantined, conflicts], ignore_index=True)
        refuse_if_too_bad(label, len(frame), quarantined, bad_share)
        manifest_id = manifest_id_for(digest)
        q_path = None
        if len(quarantined):
            q_path = paths.quarantine / f"{source.name}-{manifest_id}.parquet"
            write_parquet(quarantine_rows(quarantined, label, manifest_id, now), q_path)
        write_parquet(merged, facts_path)
        manifest = Manifest(
            manifest_id=manifest_id,
            content_hash=digest,
            source=f"feature source {source.name} ({source.kind})",
            path=str(config.feature_source_path(source) or ""),
            league=config.league.name,
            read=len(frame),
            new=new,
            updated=0,
            duplicate=duplicate,
            quarantined=len(quarantined),
            repaired=0,
            quarantine_file=str(q_path) if q_path else None,
            rules=rule_counts(quarantined.astype({RULES: "string"})) if len(quarantined) else {},
            created_at=now,
            code_version=code_version(),
        )
        write_json(manifest.model_dump(mode="json"), manifests / f"{manifest_id}.json")
    unmatched = int(quarantined[RULES].str.contains(MATCHED).sum()) if len(quarantined) else 0
    return SourceIngest(
        source=source.name,
        kind=source.kind,
        label=label,
        skipped=False,
        manifest=manifest,
        stored=len(merged),
        unmatched=unmatched,
        note=note,
    )


def upsert_facts(
    stored: pd.DataFrame, incoming: pd.DataFrame, source: FeatureSourceConfig
) -> tuple[pd.DataFrame, int, int, pd.DataFrame]:
    """(stored facts with the new ones, how many were new, how many repeats, conflicts).

    A fact is never changed once stored: a new value is a new fact with a later `known_at`
    (for a box score, which has none, a correction is refused as a conflict)."""
    keys = list(STORED_KEYS[source.kind])
    values = list(source.features)
    if stored.empty:
        return incoming.reset_index(drop=True), len(incoming), 0, incoming.iloc[:0]
    old = stored.set_index(keys)
    found = old.reindex(pd.MultiIndex.from_frame(incoming[keys]))
    known = found.notna().any(axis=1).to_numpy() | (
        pd.MultiIndex.from_frame(incoming[keys]).isin(old.index)
    )
    same = np.ones(len(incoming), dtype=bool)
    for column in values:
        a = found[column].to_numpy(dtype=float)
        b = incoming[column].to_numpy(dtype=float)
        same &= (a == b) | (np.isnan(a) & np.isnan(b))
    conflict = known & ~same
    new = ~known
    conflicts = incoming[conflict].copy()
    conflicts[RULES] = "a stored fact may not change (stamp a new value with a later known_at)"
    merged = pd.concat([stored, incoming[new]], ignore_index=True)
    return merged, int(new.sum()), int((known & same).sum()), conflicts


def refuse_if_too_bad(label: str, n_read: int, quarantined: pd.DataFrame, share: float) -> None:
    """ValidationFailed naming the source, the counts, the rules and the first lines."""
    if not n_read or len(quarantined) / n_read <= share:
        return
    rules = ", ".join(
        f"{rule} ({n})" for rule, n in rule_counts(quarantined.astype({RULES: "string"})).items()
    )
    lines = (
        quarantined[SOURCE_LINE].head(5).astype(int).tolist() if SOURCE_LINE in quarantined else []
    )
    raise ValidationFailed(
        f"feature source {label}: {len(quarantined)} of {n_read} rows "
        f"({len(quarantined) / n_read:.1%}) broke rules, more than the allowed {share:.1%}; "
        f"nothing was stored. Rules: {rules}. First bad lines: {lines}"
    )


def quarantine_rows(
    quarantined: pd.DataFrame, label: str, manifest_id: str, now: datetime
) -> pd.DataFrame:
    """Quarantined rows with the file, the manifest and when (the rules already named)."""
    out = quarantined.drop(columns=[c for c in ("_key", ROW) if c in quarantined]).copy()
    out["file"] = label
    out["manifest_id"] = manifest_id
    out["quarantined_at"] = pd.Timestamp(now)
    return out.astype({RULES: "string", "file": "string"}).reset_index(drop=True)


def ingest_sources(
    config: GamelineConfig, now: datetime, games_file: Path | None = None
) -> list[SourceIngest]:
    """Ingest every declared feature source, in config order."""
    return [ingest_source(config, s, now, games_file) for s in config.features.sources]
