"""A monitor run on bad or thin input says 'not enough data', never crashes, never alarms."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.monitoring.monitor import Champion, monitor
from tests.builders import AS_OF, ingested, training_frame


@pytest.fixture(scope="module")
def league(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[GamelineConfig, pd.DataFrame, pd.DataFrame]:
    from gameline.tasks.config import load_config
    from tests.builders import CONFIGS

    config = load_config(
        CONFIGS / "default.yaml",
        environ={},
        overrides={
            "state_dir": str(tmp_path_factory.mktemp("league") / "state"),
            "source": {"simulator": {"n_teams": 8, "n_seasons": 3, "as_of": AS_OF.isoformat()}},
        },
    )
    games = ingested(config)
    return config, games, training_frame(config)


def champion(frame: pd.DataFrame, features: list[str]) -> Champion:
    played = frame[frame[LABEL].notna()]
    return Champion(
        version="1",
        features=features,
        trained_until=played["event_timestamp"].max().to_pydatetime(),
        promised_log_loss=0.6,
        oof=pd.DataFrame({"game_id": played["game_id"], "p": 0.6}),
    )


def served(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The last `n` finished games as if the champion had served them."""
    rows = frame[frame[LABEL].notna()].tail(n)
    return pd.DataFrame(
        {
            "game_id": rows["game_id"].astype(str),
            "start_time": rows["event_timestamp"],
            "p_home": 0.6,
            "model_version": "1",
            "served_by": "champion",
            "predicted_at": rows["event_timestamp"],
        }
    )


def run(league: tuple, predictions: pd.DataFrame, tmp_path: Path, **changes: object) -> object:
    config, games, frame = league
    features = changes.pop("features", ["elo_pre", "rest_days"])
    return monitor(
        changes.pop("frame", frame),
        games,
        predictions,
        changes.pop("champion", champion(frame, features)),
        "m",
        config.monitor,
        config.features.elo,
        AS_OF + timedelta(days=1),
        tmp_path,
    )


def test_nothing_served_yet_is_not_enough_data(league: tuple, tmp_path: Path) -> None:
    result = run(league, pd.DataFrame(), tmp_path)
    assert result.findings == [] and result.checked == []
    assert result.data_drift.status == result.performance.status == "not enough data"
    assert "0 finished served games" in result.performance.detail


def test_too_few_finished_games_is_not_enough_data(league: tuple, tmp_path: Path) -> None:
    result = run(league, served(league[2], 20), tmp_path)
    assert result.performance.status == "not enough data" and result.findings == []
    assert "20 finished served games; need 100" in result.performance.detail


def test_a_feature_missing_from_the_reference_is_said_not_crashed(
    league: tuple, tmp_path: Path
) -> None:
    result = run(league, served(league[2], 150), tmp_path, features=["elo_pre", "not_a_feature"])
    assert result.data_drift.status == "not enough data"
    assert "home__not_a_feature" in result.data_drift.detail
    assert "data_drift" not in result.checked


def test_no_champion_no_verdict(league: tuple, tmp_path: Path) -> None:
    result = run(league, served(league[2], 150), tmp_path, champion=None)
    assert result.status == "no champion" and result.findings == []
