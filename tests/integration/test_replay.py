"""The replay: what a policy sees at a run time never depends on a result that came later, and
the command runs end to end on a small simulated league."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.inputs import model_example, selected_features
from gameline.tasks.replay.engine import train_model
from gameline.tasks.replay.report import policy_table
from gameline.tasks.replay.run import prepare, replay, replay_store
from gameline.tasks.replay.timeline import day_features, day_games, known_frame, known_games
from gameline.tasks.replay.tracking import replay_registry
from tests.builders import ingested, write_config

pytestmark = [pytest.mark.integration]

START, END = date(2025, 11, 10), date(2025, 12, 31)


@pytest.fixture
def small(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    """Four seasons of 10 teams, 30 games each; the replay covers the second half of the last."""
    config = sim_config(
        source={"simulator": {"n_teams": 10, "n_seasons": 4, "games_per_team": 30,
                              "upcoming_days": 0}},
        train={"min_train_seasons": 2},
        gate={"window_games": 200, "min_games": 25},
        monitor={"min_games": 30, "window_days": 7},
        runner={"workers": 1},  # policies one after another: the suite's workers use the cores
    )  # fmt: skip
    ingested(config)
    return config


def scrambled(games: pd.DataFrame, ends: pd.Series, now: pd.Timestamp, seed: int) -> pd.DataFrame:
    """The store with every result that came after `now` replaced by random scores."""
    later = ((ends > now) & (games["status"] == "final")).to_numpy()
    rng = np.random.default_rng(seed)
    out = games.copy()
    out.loc[later, "home_score"] = rng.integers(60, 160, later.sum())
    out.loc[later, "away_score"] = rng.integers(60, 160, later.sum())
    return out


def test_no_later_result_reaches_what_a_run_sees(small: GamelineConfig, tmp_path: Path) -> None:
    """At sampled run times, everything the replay gives a policy (the day's features, the
    known training set, the model trained on it) is the same when every result that came after
    the run is scrambled: nothing from the future reaches a prediction."""
    timeline = prepare(small, START, END, time(10, 0), tmp_path / "true", 7, 7)
    games = timeline.games
    game_days = [i for i, rows in enumerate(timeline.rows) if not rows.empty]
    assert len(game_days) >= 10
    for n, i in enumerate(game_days[:: max(len(game_days) // 4, 1)][:4]):
        now = timeline.times[i]
        stamp = pd.Timestamp(now)
        fake = scrambled(games, timeline.game_ends, stamp, seed=n)
        assert not fake.equals(games)
        store = replay_store(small, fake, tmp_path / f"fake-{n}")
        known = known_games(fake, timeline.game_ends, now)
        day = day_games(known, now, now + pd.Timedelta(days=1))
        rows = day_features(store, known, day, small, now)
        pd.testing.assert_frame_equal(
            rows.reset_index(drop=True), timeline.rows[i].reset_index(drop=True)
        )
        assert rows[LABEL].isna().all()  # no game of the day has a result at prediction time
        from gameline.tasks.features.context import game_context

        frame_fake = store.training_set(fake, game_context(fake, small.features, small.league))
        ends = frame_fake["event_timestamp"] + pd.Timedelta(hours=small.league.game_duration_hours)
        seen_fake = known_frame(frame_fake, ends, now)
        seen = known_frame(timeline.frame, timeline.frame_ends, now)
        pd.testing.assert_frame_equal(seen_fake, seen)
        model = train_model(small, seen_fake, "x")
        assert np.allclose(model.predict(rows), train_model(small, seen, "x").predict(rows))


def test_never_serves_the_initial_model_and_every_game_once(small: GamelineConfig) -> None:
    """`never` serves v1 to every game once; `scheduled` retrains weekly. Run at once in two
    worker processes, the two policies serve, retrain and alert exactly as one after another,
    and report their progress up to every day replayed."""
    two = small.model_copy(update={"runner": small.runner.model_copy(update={"workers": 2})})
    seen: dict[str, tuple[int, int, int]] = {}

    def progress(policy: str, done: int, total: int, retrains: int) -> None:
        assert done >= seen.get(policy, (0, 0, 0))[0]  # never backwards
        seen[policy] = (done, total, retrains)

    at_once = replay(two, START, END, ["never", "scheduled"], schedule_days=7, progress=progress)
    result = replay(small, START, END, ["never", "scheduled"], schedule_days=7)
    assert "policies, 2 at once" in at_once.seconds
    assert "policies, one after another" in result.seconds
    for one, other in zip(result.runs, at_once.runs, strict=True):
        assert one.policy == other.policy
        pd.testing.assert_frame_equal(one.served, other.served)
        assert one.retrains == other.retrains and one.alerts == other.alerts
    days = (END - START).days + 1  # a run time a day
    assert seen["never"][:2] == seen["scheduled"][:2] == (days, days)
    assert seen["never"][2] == 0 and seen["scheduled"][2] == len(result.runs[1].retrains)
    never = result.served[result.served["policy"] == "never"]
    assert never["game_id"].is_unique and (never["model_version"] == "1").all()
    assert (never["predicted_at"] < never["start_time"]).all()
    assert (never["start_time"] - never["predicted_at"] <= pd.Timedelta(days=1)).all()
    # Its served probabilities are the initial model's on the features each run saw.
    features = result.features.set_index("game_id").loc[never["game_id"]]
    assert np.allclose(result.initial.predict(features.reset_index()), never["p_home"])
    scheduled = result.served[result.served["policy"] == "scheduled"]
    assert set(scheduled["game_id"]) == set(never["game_id"])
    # Weekly, when 50 games (twice gate.min_games) have finished since the last.
    retrains = result.runs[1].retrains
    assert len(retrains) >= 2 and {r["trigger"] for r in retrains} == {"schedule"}
    assert state_paths(small).raw_games.exists()


@pytest.mark.slow(seconds=21)  # about this long: scheduled first
def test_the_replay_command_prints_tables_and_writes_the_plot(
    small: GamelineConfig, tmp_path: Path
) -> None:
    # As in the shipped configs, the state folder is relative (to where the command runs).
    relative = small.model_copy(update={"state_dir": Path("state")})
    path = write_config(relative, tmp_path / "small.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "gameline.flows.cli", "replay", "--config", str(path),
         "--from", str(START), "--to", str(END), "--policy", "never,drift"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served predictions by policy" in done.stdout and "Elo baseline" in done.stdout
    assert "MLflow run" in done.stdout
    folder = state_paths(small).root / "replays" / f"{START:%Y%m%d}_{END:%Y%m%d}"
    table = pd.read_csv(folder / "policies.csv")
    assert list(table["policy"][:2]) == ["never", "drift"] and (table["games"] > 50).all()
    assert (folder / "rolling_log_loss.png").stat().st_size > 10_000
    events = pd.read_csv(folder / "events.csv")
    assert set(events["policy"]) <= {"never", "drift"} and set(events["event"]) <= {
        "retrain",
        "alert",
    }
    # What `never` served is what the registered initial model predicts for those games.
    registry = replay_registry(small)
    model = registry.load_version("1")
    assert registry.version_tags("1")["replay_policy"] == "never"
    served = pd.read_parquet(folder / "served.parquet")
    never = served[served["policy"] == "never"]
    seen = pd.read_parquet(folder / "features.parquet").set_index("game_id")
    rows = seen.loc[never["game_id"]].reset_index()
    p = np.asarray(model.predict(model_example(rows, selected_features(small))), dtype=float)
    assert len(never) > 50 and np.allclose(p, never["p_home"].to_numpy())
    bad = subprocess.run(
        [sys.executable, "-m", "gameline.flows.cli", "replay", "--config", str(path),
         "--from", "1990-01-01", "--to", "1990-02-01"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("error: --from 1990-01-01 must lie")
    elsewhere = tmp_path / "elsewhere"  # the relative state folder is empty from here
    elsewhere.mkdir()
    empty = subprocess.run(
        [sys.executable, "-m", "gameline.flows.cli", "replay", "--config", str(path),
         "--from", str(START), "--to", str(END)],
        capture_output=True, text=True, timeout=120, cwd=elsewhere,
    )  # fmt: skip
    assert empty.returncode == 1
    assert empty.stderr == (
        f"error: no finished games in state/raw/games.parquet: ingest first "
        f"(gameline ingest --config {path})\n"
    )


# The model of a user whose features do not follow the league's home edge (no league home
# margin): a new home edge is learnt only by retraining.
WITHOUT_HOME_MARGIN = [
    "elo_pre", "games_played", "win_pct_season", "margin_season", "win_pct_5", "margin_5",
    "win_pct_10", "margin_10", "win_pct_20", "margin_20", "home_win_pct_10", "away_win_pct_10",
    "rest_days", "back_to_back", "season_progress",
]  # fmt: skip


@pytest.mark.slow(seconds=30)
def test_on_a_regime_change_the_trigger_policy_beats_never_retrain(
    sim_config: Callable[..., GamelineConfig],
) -> None:
    """30 teams, 82 games; from 2024-11-01 the home edge vanishes (3.2 -> 0 points). The monitor
    alarms within weeks, the triggered retrain passes the gate with evidence, and the served
    log loss of the season beats never retraining."""
    config = sim_config(
        source={"simulator": {"n_teams": 30, "n_seasons": 5, "games_per_team": 82,
                              "upcoming_days": 0, "as_of": "2025-07-01T00:00:00+00:00",
                              "regime_change": {"start": "2024-11-01",
                                                "home_advantage_pts": 0.0}}},
        train={"features": WITHOUT_HOME_MARGIN, "season_weight_decay": 0.5},
        gate={"window_games": 600, "min_games": 200},
        runner={"workers": 1},
    )  # fmt: skip
    ingested(config)
    result = replay(config, date(2024, 9, 1), date(2025, 6, 30), ["never", "drift"])
    table = policy_table(result).set_index("policy")
    never, drift = result.runs
    assert {a.kind for a in never.alerts} >= {"miscalibration"}
    first_alarm = min(a.opened_at for a in never.alerts)
    assert first_alarm <= datetime(2025, 1, 1, tzinfo=UTC)  # within two months of the change
    promoted = [r for r in drift.retrains if r["promoted"]]
    assert promoted and promoted[0]["trigger"] in ("degradation", "drift")
    assert promoted[0]["at"] >= first_alarm
    assert table.loc["drift", "log_loss"] < table.loc["never", "log_loss"] - 0.002, table
