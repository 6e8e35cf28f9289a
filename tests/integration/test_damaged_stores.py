"""Damaged derived stores heal themselves: a Feast registry or an online store cut short is set
aside and rebuilt from what it derives from, with a warning and an alert; the run goes on and
serves what it served before the damage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from tests.builders import NOW, fatigue_league
from tests.servers import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def cut_short(path: Path) -> None:
    """Keep the first third of a file, as a full disk or a killed copy leaves it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 3)


@pytest.mark.slow(seconds=30)
def test_a_damaged_registry_and_online_store_are_rebuilt_and_serve_the_same(
    sim_config: Callable[..., GamelineConfig], receiver: Receiver
) -> None:
    from gameline.flows.pipeline import pipeline_flow
    from gameline.flows.predict import predict_flow
    from gameline.tasks.serving.predictions import read_predictions

    config = fatigue_league(sim_config, ingest=False)
    first = pipeline_flow(config, now=NOW)
    assert first.predictions is not None and first.predictions.games > 0
    feast = state_paths(config).feast
    for name in ("registry.db", "online_store.db"):
        cut_short(feast / name)
    again = predict_flow(config, now=NOW)
    assert len(again.healed) == 2, again.healed
    assert "Feast registry" in again.healed[0] and "could not be read" in again.healed[0]
    assert "online store" in again.healed[1] and "rebuilt from the team states" in again.healed[1]
    assert any("rebuilt" in str(body["title"]) for body in receiver.bodies)
    assert sorted(p.name.split(".damaged-")[0] for p in feast.glob("*.damaged-*")) == [
        "online_store.db",
        "registry.db",
    ]  # kept beside, for a look
    before, after = (
        pd.DataFrame(run.predictions).set_index("game_id")["p_home"]
        for run in (first.predictions, again)
    )
    pd.testing.assert_series_equal(before, after)
    table = read_predictions(state_paths(config).predictions)
    assert len(table) == 2 * len(before)
    assert (table["feature_source"] == "online").all()  # read from the rebuilt online store
    daily = pipeline_flow(config, now=NOW)  # and nothing is left to rebuild
    assert daily.ingest.healed == [] and daily.predictions is not None
    assert daily.predictions.healed == []
