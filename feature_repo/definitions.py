"""Feast definitions for Gameline: the team-state view, a view per feature source, one versioned
service.

The view `team_state` holds each team's state after each of its final games, stamped with that
game's end time (tasks/features/team.py writes it; its columns come from `state_columns`, so
the names are defined once, in the code that computes them). The service `game_features_v2`
joins it twice, for the home and the away team of a game. The model's features of a game are
that state turned "pregame" with the game's context (rest, season progress, the league's home
margin), by the same function for training and serving (`features.team.pregame`).

Each of the user's feature sources (`features.sources`) is one more FileSource and view, in the
same service: a team source joined twice (home_<name>, away_<name>), game facts once on the
entity `game` (game_<name>). The service is then named by the set of features it serves.

`feature_objects()` builds them from the Gameline config (the Feast adapter calls it, so the
pipeline and `feast apply` use the same definitions). The module-level objects below are the
embedded default, for running `feast apply` / `feast ui` in this folder by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from gameline.tasks.config import FeaturesConfig
from gameline.tasks.features.feast_import import feast_without_type_checks
from gameline.tasks.features.service import TEAM_VIEW, service_name
from gameline.tasks.features.sources import SourceView
from gameline.tasks.features.team import state_columns

with feast_without_type_checks():  # 2 s less per process (see feast_import)
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / ".gameline/features/team_states.parquet"


def feature_objects(
    source_path: Path,
    features: list[str],
    ttl: timedelta,
    views: Sequence[SourceView] = (),
) -> list[Any]:
    """Entity `team`, the team-states FileSource, view `team_state` and the service (home and
    away projections of the one view, joined on `home_team` / `away_team`); with feature
    sources, entity `game`, and per source a FileSource and a view, projected twice (home_<name>,
    away_<name>) for a team source and once (game_<name>) for game facts."""
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
    projections = [
        view.with_name("home").with_join_key_map({"team": "home_team"}),
        view.with_name("away").with_join_key_map({"team": "away_team"}),
    ]
    objects: list[Any] = [team, source, view]
    game = Entity(
        name="game",
        join_keys=["game_id"],
        value_type=ValueType.STRING,
        description="a game of the league (its game_id)",
    )
    if any(v.join_key == "game_id" for v in views):
        objects.append(game)
    for spec in views:
        file = FileSource(
            name=f"{spec.name}_source",
            path=str(spec.path),
            timestamp_field="event_timestamp",
            description=f"feature source {spec.name} ({spec.kind}), point in time",
        )
        source_view = FeatureView(
            name=spec.name,
            entities=[game if spec.join_key == "game_id" else team],
            ttl=ttl,
            online=True,
            source=file,
            schema=[Field(name=name, dtype=Float64) for name in spec.columns],
            description=f"the user's {spec.kind.replace('_', ' ')}: {spec.name}",
        )
        objects += [file, source_view]
        if spec.join_key == "game_id":
            projections.append(source_view.with_name(f"game_{spec.name}"))
        else:
            projections += [
                source_view.with_name(f"home_{spec.name}").with_join_key_map({"team": "home_team"}),
                source_view.with_name(f"away_{spec.name}").with_join_key_map({"team": "away_team"}),
            ]
    service = FeatureService(
        name=service_name(views),
        features=projections,
        description="home and away team states (and the user's feature sources) for one game",
    )
    return [*objects, service]


team, team_states_source, team_state_fv, game_features_v2 = feature_objects(
    DEFAULT_SOURCE, state_columns(FeaturesConfig()), timedelta(days=400)
)
