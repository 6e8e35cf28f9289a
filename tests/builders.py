"""Builders that tests import: small simulated configs, ingested leagues, training frames and
config files. Each calls production code (the ingest tasks, the training-set builder) rather
than re-implementing it. Fixtures live in conftest.py."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gameline.tasks.config import GamelineConfig, deep_update, load_config, state_paths

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
AS_OF = datetime.fromisoformat("2026-11-23T00:00:00+00:00")
NOW = datetime.fromisoformat("2026-11-23T12:00:00+00:00")


def real_data_dir() -> Path:
    """Where the real game files are: GAMELINE_DATA_DIR, else ../shared/data beside the repo."""
    return Path(os.environ.get("GAMELINE_DATA_DIR") or REPO.parent / "shared" / "data")


def small_sim_config(state_dir: Path, name: str = "default", **overrides: Any) -> GamelineConfig:
    """A small simulated league (8 teams, 2 seasons of 20 games) from configs/<name>.yaml with
    its state in `state_dir`; keyword overrides are merged into the YAML."""
    base: dict[str, Any] = {
        "state_dir": str(state_dir),
        "features": {"sources": []},  # the demo's sources only where a test asks for them
        "source": {
            "simulator": {
                "star_pts": 0.0,  # the demo's hidden factor only where a test asks for it
                "n_teams": 8,
                "n_seasons": 2,
                "games_per_team": 20,
                "as_of": AS_OF.isoformat(),
            }
        },
    }
    merged = deep_update(base, overrides)
    return load_config(CONFIGS / f"{name}.yaml", overrides=merged, environ={})


def ingested(config: GamelineConfig) -> pd.DataFrame:
    """Run ingest + features through the plain task functions; return the stored games."""
    from gameline.tasks.data.ingest import read_store, stage_input, store_input
    from gameline.tasks.data.validate import check_input
    from gameline.tasks.features.team import write_team_features

    staged = stage_input(config)
    checked = check_input(config, staged.path, staged.label, NOW)
    store_input(config, staged, checked, NOW)
    write_team_features(config)
    return read_store(state_paths(config).raw_games)


def training_frame(config: GamelineConfig) -> pd.DataFrame:
    """The training set of an ingested config, built by the same code the train flow runs
    (Feast's definitions applied in the config's state folder, the point-in-time join)."""
    from gameline.tasks.model.dataset import build_training_set

    path, _ = build_training_set(config)
    return pd.read_parquet(path)


def write_config(config: GamelineConfig, path: Path) -> Path:
    """A config as a YAML file (what the CLI reads)."""
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def with_changes(config: GamelineConfig, **sections: dict[str, object]) -> GamelineConfig:
    """A config with some fields of some sections replaced."""
    updates = {
        name: getattr(config, name).model_copy(update=values) for name, values in sections.items()
    }
    return config.model_copy(update=updates)


def fatigue_league(
    make_config: Any,
    ingest: bool = True,
    full: bool = False,
    **overrides: dict[str, object],
) -> GamelineConfig:
    """A league where back-to-backs cost points Elo cannot see, so a model with the rest
    features beats Elo and its first challenger passes the gate (ingested unless told not to),
    from the `sim_config` fixture's maker: three seasons of 12 teams and 40 games each (16
    points, a 300-game window: quicker), or with `full` four of 16 teams and 82 games (4 points,
    a 1,000-game window), which the tests that count on its denser schedule (teams playing twice
    in three days), its single walk-forward fold or its line models' answers ask for."""
    size: dict[str, object] = (
        {"n_teams": 16, "n_seasons": 4, "games_per_team": 82, "fatigue_pts": 4.0}
        if full
        else {"n_teams": 12, "n_seasons": 3, "games_per_team": 40, "fatigue_pts": 16.0}
    )
    base: dict[str, object] = {
        "source": {"simulator": {**size, **overrides.pop("simulator", {})}},
        "train": {"min_train_seasons": 3 if full else 1},
        "gate": {"window_games": 1000, "min_games": 300}
        if full
        else {"window_games": 300, "min_games": 60, "max_ece": 0.15},
    }
    config = make_config(**base, **overrides)
    if ingest:
        ingested(config)
    return config


# The simulator's feature sources, as the demo's config declares them (box-score windows kept
# short for small leagues), and a game-facts file of posted moneylines the tests write.
STAR_SOURCE = {"name": "star", "kind": "team_timeline", "features": {"star_out": {"type": "flag"}}}
BOX_SCORE_SOURCE = {
    "name": "box_score",
    "kind": "team_game_stats",
    "features": {"net_rating": {"min": -80, "max": 80}, "pace": {"min": 60, "max": 140}},
    "windows": [5],
}


def lines_file(config: GamelineConfig, path: Path, hours_before: float = 20.0) -> Path:
    """A game-facts CSV of the simulated games' moneylines, keyed by local date and teams and
    posted `hours_before` each start (only those posted by the simulated now)."""
    from gameline.tasks.data.simulator import simulate_games

    games = simulate_games(config.source.simulator, config.league)
    posted = games["start_time"] - pd.Timedelta(hours=hours_before)
    lines = pd.DataFrame(
        {
            "date": games["start_time"]
            .dt.tz_convert(config.league.timezone)
            .dt.strftime("%Y-%m-%d"),
            "home": games["home_team"],
            "away": games["away_team"],
            "ml_home": games["home_ml"],
            "ml_away": games["away_ml"],
            "posted": posted.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    lines[(posted <= pd.Timestamp(AS_OF)).to_numpy()].to_csv(path, index=False)
    return path


def lines_source(path: Path) -> dict[str, Any]:
    """The game-facts source of a `lines_file`."""
    return {
        "name": "lines",
        "kind": "game_facts",
        "path": str(path),
        "columns": {"home_team": "home", "away_team": "away", "known_at": "posted"},
        "features": {"ml_home": {"type": "moneyline"}, "ml_away": {"type": "moneyline"}},
    }


def all_sources_config(state_dir: Path, **overrides: Any) -> GamelineConfig:
    """A small simulated league with a hidden star factor and all three kinds of source: the
    star timeline, box scores, and a lines file (written into `state_dir`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    changes = deep_update(
        {"source": {"simulator": {"star_pts": 4.0, "upcoming_days": 7}}}, overrides
    )
    league = {k: v for k, v in changes.items() if k not in ("train", "mlflow")}  # no sources yet
    path = lines_file(small_sim_config(state_dir, **league), state_dir / "lines.csv")
    sources = [STAR_SOURCE, BOX_SCORE_SOURCE, lines_source(path)]
    return small_sim_config(state_dir, **deep_update(changes, {"features": {"sources": sources}}))


def ingested_with_sources(config: GamelineConfig) -> pd.DataFrame:
    """`ingested`, then every feature source, then the features again (as the ingest flow
    runs them); returns the stored games."""
    from gameline.tasks.data.feature_sources import ingest_sources
    from gameline.tasks.features.team import write_team_features

    games = ingested(config)
    ingest_sources(config, AS_OF)
    write_team_features(config)
    return games
