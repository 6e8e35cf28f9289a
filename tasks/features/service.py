"""The names Feast serves Gameline's features under: the team-state view and the versioned
feature service. Plain names, without Feast: the Feast adapter (`features.store`) reads them on
import and imports Feast itself only when it talks to Feast (`import feast` costs about a
second, which a process that never reaches the store does not pay)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gameline.tasks.features.sources import SourceView

FEATURE_SERVICE = "game_features_v2"
TEAM_VIEW = "team_state"


def service_name(views: Sequence[SourceView] = ()) -> str:
    """The FeatureService's name: `game_features_v2` for the team states alone; with feature
    sources, versioned by the set of views and features (`game_features_v3_<hash>`), so a model
    trained on one set is never served another under the same name."""
    if not views:
        return FEATURE_SERVICE
    spec = ";".join(f"{v.name}:{v.join_key}:{','.join(v.columns)}" for v in views)
    return f"game_features_v3_{hashlib.sha256(spec.encode()).hexdigest()[:8]}"
