"""Feast definitions for Gameline: one entity, one source, one view, one versioned service.

`feature_objects()` builds them from the Gameline config (tasks/feature_store.py calls it, so
the pipeline and `feast apply` use the same definitions). The module-level objects below are the
embedded default, for running `feast apply` / `feast ui` in this folder by hand.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

FEATURE_SERVICE = "game_features_v1"
TEAM_VIEW = "team_form"
# Embedded default: the columns tasks.features.feature_columns(FeaturesConfig()) writes.
DEFAULT_FEATURES = [
    "elo_pre", "games_played", "win_pct_season", "margin_season",
    "win_pct_5", "margin_5", "win_pct_10", "margin_10", "win_pct_20", "margin_20",
    "home_win_pct_10", "away_win_pct_10", "rest_days", "back_to_back", "season_progress",
    "league_home_margin",
]  # fmt: skip
DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / ".gameline/features/team_features.parquet"


def feature_objects(source_path: Path, features: list[str], ttl: timedelta) -> list[Any]:
    """Entity `team`, the team-features FileSource, view `team_form` and `game_features_v1`
    (home and away projections of the one view, joined on `home_team` / `away_team`)."""
    team = Entity(
        name="team",
        join_keys=["team"],
        value_type=ValueType.STRING,
        description="a team code of the league",
    )
    source = FileSource(
        name="team_features_source",
        path=str(source_path),
        timestamp_field="event_timestamp",
        description="point-in-time team features, one row per team and game",
    )
    view = FeatureView(
        name=TEAM_VIEW,
        entities=[team],
        ttl=ttl,
        online=True,
        source=source,
        schema=[Field(name=name, dtype=Float64) for name in features],
        description="a team's form before a game, from games that ended before it started",
    )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[
            view.with_name("home").with_join_key_map({"team": "home_team"}),
            view.with_name("away").with_join_key_map({"team": "away_team"}),
        ],
        description="home and away team form for one game (model features v1)",
    )
    return [team, source, view, service]


team, team_features_source, team_form_fv, game_features_v1 = feature_objects(
    DEFAULT_SOURCE, DEFAULT_FEATURES, timedelta(days=400)
)
