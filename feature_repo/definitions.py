"""Feast definitions for Gameline: one entity, one source, one view, one versioned service.

The view `team_state` holds each team's state after each of its final games, stamped with that
game's end time (tasks/features/team.py writes it; its columns come from `state_columns`, so
the names are defined once, in the code that computes them). The service `game_features_v2`
joins it twice, for the home and the away team of a game. The model's features of a game are
that state turned "pregame" with the game's context (rest, season progress, the league's home
margin), by the same function for training and serving (`features.team.pregame`).

`feature_objects()` builds them from the Gameline config (the Feast adapter calls it, so the
pipeline and `feast apply` use the same definitions). The module-level objects below are the
embedded default, for running `feast apply` / `feast ui` in this folder by hand.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from gameline.tasks.config import FeaturesConfig
from gameline.tasks.features.feast_import import feast_without_type_checks
from gameline.tasks.features.team import state_columns

with feast_without_type_checks():  # 2 s less per process (see feast_import)
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

FEATURE_SERVICE = "game_features_v2"
TEAM_VIEW = "team_state"
DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / ".gameline/features/team_states.parquet"


def feature_objects(source_path: Path, features: list[str], ttl: timedelta) -> list[Any]:
    """Entity `team`, the team-states FileSource, view `team_state` and `game_features_v2`
    (home and away projections of the one view, joined on `home_team` / `away_team`)."""
    team = Entity(
        name="team",
        join_keys=["team"],
        value_type=ValueType.STRING,
        description="a team code of the league",
    )
    source = FileSource(
        name="team_states_source",
        path=str(source_path),
        timestamp_field="event_timestamp",
        description="each team's state after each of its final games, stamped at its end",
    )
    view = FeatureView(
        name=TEAM_VIEW,
        entities=[team],
        ttl=ttl,
        online=True,
        source=source,
        schema=[Field(name=name, dtype=Float64) for name in features],
        description="a team's ratings and form after its latest final game",
    )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[
            view.with_name("home").with_join_key_map({"team": "home_team"}),
            view.with_name("away").with_join_key_map({"team": "away_team"}),
        ],
        description="home and away team states for one game (model features v2)",
    )
    return [team, source, view, service]


team, team_states_source, team_state_fv, game_features_v2 = feature_objects(
    DEFAULT_SOURCE, state_columns(FeaturesConfig()), timedelta(days=400)
)
