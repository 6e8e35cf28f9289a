"""Training sets as files named by their content: two retrains that overlap can never fit on
one dataset and register on another, because each passes the path of its own."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import content_hash, read_store
from gameline.tasks.features.context import game_context
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.model.inputs import selected_features
from gameline.tasks.provenance import code_version
from gameline.tasks.storage import write_parquet

# Older training sets are removed once there are more than KEEP and they are older than a day.
KEEP = 5
KEEP_SECONDS = 86_400


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and values (in row order)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_training_set(frame: pd.DataFrame, folder: Path) -> Path:
    """Write a training set as `training_set-<hash>.parquet` (once: the same content again
    reuses the file) and prune old ones; returns its path."""
    path = folder / f"training_set-{frame_hash(frame)[:16]}.parquet"
    if not path.exists():
        write_parquet(frame, path)
    prune(folder, keep=path)
    return path


def prune(folder: Path, keep: Path) -> list[Path]:
    """Remove training sets beyond the newest KEEP that are over a day old (never `keep`)."""
    files = sorted(folder.glob("training_set-*.parquet"), key=lambda p: p.stat().st_mtime)
    cutoff = time.time() - KEEP_SECONDS
    removed = [p for p in files[:-KEEP] if p != keep and p.stat().st_mtime < cutoff]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def training_set_tags(
    games: pd.DataFrame, store: TeamFeatureStore, features: list[str], config_name: str
) -> dict[str, str]:
    """What a training run was built from: the games' hash and manifests, the FeatureService,
    the features, the code and the Feast registry's version of the definitions."""
    return {
        "dataset_hash": content_hash(games),
        "manifest_ids": ",".join(sorted(games["manifest_id"].dropna().astype(str).unique())),
        "feature_service": store.service,
        "features": ",".join(features),
        "code_version": code_version(),
        "config": config_name,
        **store.registry_version(),
    }


def source_tags(config: GamelineConfig) -> dict[str, str]:
    """Each feature source's stored facts as a training run saw them: their hash and the
    manifests of the inputs they came from (`source.<name>.sha256`, `source.<name>.manifests`)."""
    paths = state_paths(config)
    tags = {}
    for source in config.features.sources:
        facts = paths.source_facts(source.name)
        if not facts.exists():
            continue
        manifests = sorted(
            p.stem for p in (paths.feature_source(source.name) / "manifests").glob("*.json")
        )
        tags[f"source.{source.name}.sha256"] = frame_hash(pd.read_parquet(facts))
        tags[f"source.{source.name}.manifests"] = ",".join(manifests)
    return tags


def build_training_set(config: GamelineConfig) -> tuple[Path, dict[str, str]]:
    """Write the point-in-time training set of every finished game, named by its content;
    return its path and its tags."""
    paths = state_paths(config)
    games = read_store(paths.raw_games)
    if not (games["status"] == "final").any():
        raise ValueError(
            f"no finished games in {paths.raw_games}: ingest first "
            "(`gameline ingest`, or the daily deployment)"
        )
    store = TeamFeatureStore.from_config(config)
    store.apply()
    context = game_context(games, config.features, config.league)
    lead = timedelta(hours=config.train.feature_lead_hours)
    path = write_training_set(store.training_set(games, context, lead=lead), paths.training)
    tags = training_set_tags(games, store, selected_features(config), config.name)
    return path, tags | source_tags(config)
