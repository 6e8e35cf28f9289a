"""Which games a challenger is judged on, and which it may train on."""

from __future__ import annotations

import pandas as pd

from gameline.tasks.config import GateConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.folds import BLOCK_GAP
from gameline.tasks.registry.evaluation import gate_window


def frame(n: int) -> pd.DataFrame:
    """n finished games, one a day."""
    starts = pd.date_range("2025-01-01 23:00", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"game_id": [f"g{i}" for i in range(n)], "event_timestamp": starts,
                         LABEL: 1.0})  # fmt: skip


def test_a_refresh_is_judged_on_the_newer_half_of_the_games_its_champion_never_saw() -> None:
    games = frame(300)
    cfg = GateConfig(window_games=100, min_games=10)
    trained_until = games["event_timestamp"].iloc[199]  # the champion saw games 0..199
    train, window = gate_window(games, cfg, trained_until)
    assert list(window["game_id"]) == [f"g{i}" for i in range(250, 300)]  # newer half of 100
    assert train["event_timestamp"].max() <= window["event_timestamp"].min() - BLOCK_GAP
    assert len(train) == 250  # the refresh trains on the older half of the unseen games too
    _, plain = gate_window(games, cfg)
    assert list(plain["game_id"]) == [f"g{i}" for i in range(200, 300)]
