"""A replay from the config's game store: the timeline every policy shares, then each policy.

The replay never touches the config's Feast project, registry or predictions: it writes the
team states, a Feast repository of its own (file registry) and its results under
`<state>/replays/<from>_<to>/`.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

import pandas as pd

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import home_win
from gameline.tasks.data.ingest import read_store
from gameline.tasks.features.context import ContextAsOf, game_context
from gameline.tasks.features.sources import source_views
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.features.team import states_table
from gameline.tasks.replay.engine import (
    Policy,
    PolicyRun,
    ReplayModel,
    Timeline,
    train_model,
)
from gameline.tasks.replay.parallel import Progress, at_once, run_policies
from gameline.tasks.replay.timeline import (
    day_games,
    days_features,
    end_times,
    known_frame,
    known_games,
    run_times,
)
from gameline.tasks.storage import write_parquet


class ReplayError(ValueError):
    """A replay that cannot run as asked (no games, a window outside the store)."""


@dataclass
class ReplayResult:
    """Every policy's run, the served predictions with their outcomes, and where time went."""

    start: date
    end: date
    runs: list[PolicyRun]
    served: pd.DataFrame  # every policy's served predictions, with y where the game is final
    features: pd.DataFrame  # the features each served prediction saw
    seconds: dict[str, float]
    folder: Path
    initial: ReplayModel


def replay_folder(config: GamelineConfig, start: date, end: date) -> Path:
    return state_paths(config).root / "replays" / f"{start:%Y%m%d}_{end:%Y%m%d}"


def replay_store(config: GamelineConfig, games: pd.DataFrame, folder: Path) -> TeamFeatureStore:
    """The team states of every game (and the feature sources' tables) in a Feast repository of
    the replay's own."""
    folder = folder.resolve()  # Feast's repository path must be absolute
    states = folder / "team_states.parquet"
    write_parquet(states_table(games, config.features, config.league), states)
    feast = config.feast.model_copy(
        update={
            "project": f"{config.feast.project}_replay",
            "registry": "file",
            "registry_url": None,
            "online_store": "sqlite",
        }
    )
    # The feature sources' point-in-time tables are the state's own: every row is stamped with
    # when it became known, so a run at `now` (as_of) sees only what was known by then.
    views = source_views(config)
    store = TeamFeatureStore(feast, folder / "feast", states, config.features, views)
    store.apply()
    return store


def prepare(
    config: GamelineConfig,
    start: date,
    end: date,
    at: time,
    folder: Path,
    monitor_every_days: int,
    schedule_days: int,
) -> Timeline:
    """The shared timeline: the training set of every game, each run's features, and the
    initial model (trained on every game finished by the first run, with its walk-forward)."""
    raw = state_paths(config).raw_games
    games = read_store(raw)
    finals = games[games["status"] == "final"]
    if finals.empty:
        raise ReplayError(
            f"no finished games in {raw}: ingest first "
            f"(gameline ingest --config {config.file or '<this config>'})"
        )
    if end < start:
        raise ReplayError(f"--to {end} is before --from {start}")
    first, last = finals["start_time"].min(), finals["start_time"].max()
    times = run_times(start, end, at)
    if pd.Timestamp(times[0]) <= first or pd.Timestamp(times[0]) > last:
        raise ReplayError(
            f"--from {start} must lie after the first and before the last finished game in "
            f"{raw} ({first:%Y-%m-%d} .. {last:%Y-%m-%d}): the replay trains on the games "
            "before it and scores the ones after"
        )
    folder.mkdir(parents=True, exist_ok=True)
    store = replay_store(config, games, folder)
    lead = timedelta(hours=config.train.feature_lead_hours)
    frame = store.training_set(
        games, game_context(games, config.features, config.league), lead=lead
    )
    context = ContextAsOf(games, config.features, config.league)
    game_ends = end_times(games["start_time"], config)
    frame_ends = end_times(frame["event_timestamp"], config)
    days, new_results = [], []
    previous = pd.Timestamp(times[0]) - timedelta(days=1)
    for now in times:
        stamp = pd.Timestamp(now)
        new_results.append(int(((game_ends > previous) & (game_ends <= stamp)).sum()))
        previous = stamp
        day = day_games(games, now, now + timedelta(days=1))
        # The day's games as the store at `now` held them (none had ended: no result).
        days.append((now, known_games(day, game_ends.loc[day.index], now)))
    played = iter(days_features(store, context, [(now, day) for now, day in days if len(day)]))
    rows = [next(played) if len(day) else frame.iloc[:0] for _, day in days]
    initial = train_model(config, known_frame(frame, frame_ends, times[0]), "1", walk=True)
    return Timeline(
        config=config,
        games=games,
        game_ends=game_ends,
        frame=frame,
        frame_ends=frame_ends,
        times=times,
        rows=rows,
        new_results=new_results,
        initial=initial,
        monitor_every_days=monitor_every_days,
        schedule_days=schedule_days,
    )


def outcomes(served: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """The served predictions with each game's result (y; NaN where it is not final)."""
    finals = games[games["status"] == "final"]
    y = pd.Series(
        home_win(finals["home_score"], finals["away_score"], finals.get("home_won")),
        index=finals["game_id"].astype(str).to_numpy(),
        dtype=float,
    )
    return served.assign(y=y.reindex(served["game_id"].astype(str)).to_numpy())


def replay(
    config: GamelineConfig,
    start: date,
    end: date,
    policies: list[Policy],
    at: time = time(10, 0),
    monitor_every_days: int | None = None,
    schedule_days: int = 7,
    folder: Path | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """Replay the daily pipeline from `start` to `end` under each policy (at once on the
    configured runner when it has more than one worker: `parallel.run_policies`)."""
    folder = folder or replay_folder(config, start, end)
    every = monitor_every_days or config.monitor.window_days
    seconds: dict[str, float] = {}
    started = clock.perf_counter()
    timeline = prepare(config, start, end, at, folder, every, schedule_days)
    seconds["prepare (features of every run, initial model)"] = clock.perf_counter() - started
    started = clock.perf_counter()
    runs = run_policies(timeline, policies, config.runner, progress)
    together = at_once(config.runner, len(policies))
    if len(policies) == 1:
        step = f"policy {policies[0]}"
    elif together > 1:
        step = f"policies, {together} at once"
    else:
        step = "policies, one after another"
    seconds[step] = clock.perf_counter() - started
    parts = [
        rows.assign(predicted_at=pd.Timestamp(now))
        for rows, now in zip(timeline.rows, timeline.times, strict=True)
        if not rows.empty
    ]
    if not parts:
        raise ReplayError(f"no game starts between {start} and {end}: nothing to replay")
    served = outcomes(
        pd.concat([r.served for r in runs if not r.served.empty], ignore_index=True),
        timeline.games,
    )
    features = pd.concat(parts, ignore_index=True)
    return ReplayResult(
        start=start,
        end=end,
        runs=runs,
        served=served,
        features=features,
        seconds=seconds,
        folder=folder,
        initial=timeline.initial,
    )
