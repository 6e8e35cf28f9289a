"""Feature sources that stop arriving: a source whose newest fact is older than its
`max_age_days`, or whose features are missing for more than `max_missing_share` of the latest
predicted games, is one finding (`source_stale`), alerted by episode like drift. A stale source
is a data problem: it never triggers a retrain."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from gameline.tasks.config import FeatureSourceConfig, GamelineConfig, state_paths
from gameline.tasks.features.sources import GAME, TEAM
from gameline.tasks.monitoring.alerts import Finding


def newest_fact(config: GamelineConfig, source: FeatureSourceConfig) -> datetime | None:
    """When the source's newest fact became known (for box scores: the end of the latest game
    with one); None before any."""
    path = state_paths(config).source_table(source.name)
    if not path.exists():
        return None
    stamps = pd.read_parquet(path, columns=["event_timestamp"])["event_timestamp"]
    return stamps.max().to_pydatetime() if len(stamps) else None


def missing_share(
    predictions: pd.DataFrame, source: FeatureSourceConfig, windows: list[int]
) -> float | None:
    """The share of the latest predict run's games without any of the source's features."""
    if predictions.empty or "missing_features" not in predictions:
        return None
    latest = predictions[predictions["predicted_at"] == predictions["predicted_at"].max()]
    prefix = GAME if source.kind == "game_facts" else TEAM
    names = {prefix + f for f in source.feature_names(windows)}
    listed = latest["missing_features"].fillna("").str.split(", ")
    return float(listed.map(lambda found: bool(names & set(found))).mean())


def source_findings(
    config: GamelineConfig, predictions: pd.DataFrame, now: datetime
) -> tuple[list[Finding], bool]:
    """(the stale-source finding, if any; whether any source was checked)."""
    problems: list[tuple[str, float, float]] = []  # (what, value, threshold)
    checked = False
    for source in config.features.sources:
        if source.max_age_days is not None:
            checked = True
            newest = newest_fact(config, source)
            age = (
                (pd.Timestamp(now) - pd.Timestamp(newest)).total_seconds() / 86_400
                if newest
                else float("inf")
            )
            if age > source.max_age_days:
                problems.append(
                    (
                        f"{source.name}: newest fact {age:.1f} days old "
                        f"(at most {source.max_age_days:g})",
                        age,
                        source.max_age_days,
                    )
                )
        if source.max_missing_share is not None:
            share = missing_share(predictions, source, config.features.windows)
            if share is None:
                continue
            checked = True
            if share > source.max_missing_share:
                problems.append(
                    (
                        f"{source.name}: missing for {share:.0%} of the latest predicted games "
                        f"(at most {source.max_missing_share:.0%})",
                        share,
                        source.max_missing_share,
                    )
                )
    if not problems:
        return [], checked
    worst = max(problems, key=lambda p: p[1] / p[2] if p[2] else float("inf"))
    finding = Finding(
        kind="source_stale",
        summary="feature source(s) stopped arriving: " + "; ".join(p[0] for p in problems),
        value=worst[1],
        threshold=worst[2],
        window="the feature sources' newest facts and the latest predictions",
        detected_at=now,
    )
    return [finding], checked
