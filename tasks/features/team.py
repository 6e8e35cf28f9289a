"""Point-in-time team features: one row per (team, game), from games that ended before it started.

A game's features have two parts, computed by the same code for training and for serving:
- a team's *state* after each of its final games (Elo, rolling and season-to-date form, home and
  away form), stamped with that game's end time (`team_states`): what Feast stores, offline and
  online;
- the game's *context*, from the schedule and the league's finished games (`context.game_context`):
  rest days, back-to-back, season progress, the league's recent home margin.
`pregame` turns a team's latest state before a game plus the game's context into the model's
features (a new season resets the season-to-date form and regresses Elo).

How it stays leak-free: every game takes the latest state of its team whose end time is at or
before the game's start (`states_at`), so a game's own result, and any game still in progress
at its start, can never reach it. Everything is vectorised; the one inherently sequential part,
Elo, is a compiled (numba) loop (`elo`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import (
    FeaturesConfig,
    GamelineConfig,
    LeagueConfig,
    LeagueHomeConfig,
    state_paths,
)
from gameline.tasks.contracts import home_win
from gameline.tasks.data.ingest import read_store
from gameline.tasks.features.elo import elo_after_games, pregame_elo
from gameline.tasks.features.fingerprint import current_build, inputs_fingerprint, record_build
from gameline.tasks.features.point_in_time import latest_at_or_before
from gameline.tasks.features.sources import write_source_tables
from gameline.tasks.features.team_order import (
    TeamWindows,
    carried_over,
    in_team_order,
    sorted_by_time,
    team_starts,
)
from gameline.tasks.storage import release_memory, releasing_memory, write_parquet


def form_columns(cfg: FeaturesConfig) -> list[str]:
    """Rolling form per window, then home and away form: in both the state and the features."""
    rolling = [f"{kind}_{w}" for w in cfg.windows for kind in ("win_pct", "margin")]
    return [*rolling, f"home_win_pct_{cfg.split_window}", f"away_win_pct_{cfg.split_window}"]


# A team's scoring level: points scored and allowed a game over its last max(windows) games.
# Not the winner's inputs (differences of them add nothing to the margin's); the total model
# takes both teams' sums.
SCORING_FEATURES = ("points_for", "points_against")


# Features with one value per league and day, the same on both sides of every game (the
# league's recent home margin): a day's games give one number, not a distribution.
LEAGUE_FEATURES = ("league_home_margin",)


def scoring_columns(cfg: FeaturesConfig) -> list[str]:
    """The scoring-level features (in the state and the features)."""
    return [f"{kind}_{max(cfg.windows)}" for kind in SCORING_FEATURES]


def feature_columns(cfg: FeaturesConfig) -> list[str]:
    """The model-facing feature names, in order."""
    return [
        "elo_pre",
        "games_played",
        "win_pct_season",
        "margin_season",
        *form_columns(cfg),
        *scoring_columns(cfg),
        "rest_days",
        "back_to_back",
        "season_progress",
        "league_home_margin",
    ]


def team_games(games: pd.DataFrame, league: LeagueConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Two rows per game, one from each team's side, with result columns for finals.

    Teams are integer codes (sorting and grouping on strings is ten times slower) and games
    their position in `games`; the second value maps codes back to team names.
    """
    # Factorized as the store holds them (Arrow text: a dictionary encoding, 0.08 s at a million
    # games, where Python strings made of them first took 0.4 s and 200 MB), codes in order of
    # first appearance either way.
    codes, names = pd.concat(
        [games["home_team"], games["away_team"]], ignore_index=True
    ).factorize()
    n = len(games)
    # .array keeps the tz-aware dtype (.to_numpy() would box every value)
    starts = pd.concat([games["start_time"], games["start_time"]], ignore_index=True).array
    duration = pd.Timedelta(hours=league.game_duration_hours)
    home_pts = games["home_score"].to_numpy(dtype="float64", na_value=np.nan)
    away_pts = games["away_score"].to_numpy(dtype="float64", na_value=np.nan)
    # 1 home win, 0 away win, 0.5 level or unknown (from who won where a file has no scores).
    home_result = np.nan_to_num(home_win(home_pts, away_pts, games.get("home_won")), nan=0.5)

    def twice(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, values])

    # The home sides, then the away sides, each column made once at its full length (two side
    # frames and their concatenation held three copies at once: a million games, 420 MB).
    columns = {
        "game": twice(np.arange(n)),
        "season": twice(games["season"].to_numpy(dtype="int64")),
        "start_time": starts,
        "neutral": twice(games["neutral"].to_numpy(dtype=bool)),
        "final": twice((games["status"] == "final").to_numpy(dtype=bool)),
        "end_time": (starts + duration).astype(starts.dtype),
        "team": codes,
        "opponent": np.concatenate([codes[n:], codes[:n]]),
        "is_home": np.arange(2 * n) < n,
        "margin": np.concatenate([home_pts - away_pts, away_pts - home_pts]),
        "points_for": np.concatenate([home_pts, away_pts]),
        "points_against": np.concatenate([away_pts, home_pts]),
        "win": np.concatenate([home_result, 1 - home_result]),
    }
    return pd.DataFrame(columns, copy=False), np.asarray(names, dtype=object)


def home_margin_states(tg: pd.DataFrame, cfg: LeagueHomeConfig) -> pd.DataFrame:
    """The league's home margin after each non-neutral final game (an EWM of home margins in
    order of end, `state_end`): a prefix of this sequence is the sequence of a store that holds
    only the games that ended by then."""
    home_side = tg.iloc[: len(tg) // 2]
    # Games that end together (a slate that starts together) in the store's order: the average
    # depends on the order, and an unstable sort orders them differently in a store that holds
    # later results too, so training and serving would see different margins for one game.
    done = home_side[home_side["final"] & ~home_side["neutral"]].sort_values(
        "end_time", kind="stable"
    )
    return pd.DataFrame(
        {
            "state_end": done["end_time"].array,  # .array keeps the tz-aware dtype
            "league_home_margin": done["margin"].ewm(halflife=cfg.halflife_games).mean().to_numpy(),
        }
    )


def league_home_margin(tg: pd.DataFrame, cfg: LeagueHomeConfig) -> np.ndarray:
    """Per game, the league's recent home margin: an EWM over non-neutral home games that
    ended at or before the game's start (the prior before any)."""
    n = len(tg) // 2
    rows = pd.DataFrame({"start_time": tg["start_time"].array[:n], "game": np.arange(n)})
    joined = pd.merge_asof(
        rows.sort_values("start_time", kind="stable"),
        home_margin_states(tg, cfg),
        left_on="start_time",
        right_on="state_end",
        allow_exact_matches=True,
    )
    out = np.full(n, cfg.prior_points)
    out[joined["game"].to_numpy()] = joined["league_home_margin"].fillna(cfg.prior_points)
    return out


def split_states(hist: pd.DataFrame, first: np.ndarray, window: int, home: bool) -> pd.Series:
    """Win share over a team's last `window` finished home (or away) games, on every row of
    `hist` (a team's finals in order: `in_team_order`; `first`: `team_starts` of its teams):
    each row takes its team's share after its latest such game at or before it, NaN before
    the first."""
    rows = np.flatnonzero(
        ~hist["neutral"].to_numpy(dtype=bool) & (hist["is_home"].to_numpy(dtype=bool) == home)
    )
    windows = TeamWindows(team_starts(hist["team"].to_numpy()[rows]))
    wins = windows.sums(hist["win"].iloc[rows], window).to_numpy() / windows.length(window)
    side = "home" if home else "away"
    values = carried_over(wins, rows, first)
    return pd.Series(values, index=hist.index, name=f"{side}_win_pct_{window}")


def state_columns(cfg: FeaturesConfig) -> list[str]:
    """What a team's state holds after a game (every value Float64 in Feast)."""
    season = ["games_played", "win_pct_season", "margin_season"]
    return ["state_season", "elo_post", *season, *form_columns(cfg), *scoring_columns(cfg)]


def team_states(tg: pd.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """A team's state after each of its final games, stamped with that game's end time
    (`state_end`); home and away form carry over the games of the other kind."""
    finals = np.flatnonzero(tg["final"].to_numpy())
    used = ["team", "end_time", "season", "elo_post", "win", "margin", "neutral", "is_home"]
    hist = in_team_order(tg, finals, "end_time", [*used, *SCORING_FEATURES])
    team = hist["team"]
    windows = TeamWindows(team_starts(team.to_numpy()))
    # The columns gathered, then made a frame without copying them (a frame's `state[c] = s`
    # copies each: 2M team-games, 16 MB a column).
    state: dict[str, pd.Series] = {
        "team": team,
        "state_end": hist["end_time"],
        "state_season": hist["season"],
        "elo_post": hist["elo_post"],
    }
    for w in cfg.windows:
        state[f"win_pct_{w}"] = windows.sums(hist["win"], w) / windows.length(w)
        state[f"margin_{w}"] = windows.means(hist["margin"], w)
    w = max(cfg.windows)
    for kind in SCORING_FEATURES:
        state[f"{kind}_{w}"] = windows.means(hist[kind], w)
    # This season's running counts, over the games whose score is known for the margin: the
    # (team, season) pairs factorized once (each grouping by both keys of 2M rows factorized
    # them again), each column summed on its own (a frame of the three held 2-3 copies at once).
    by_season = hist.groupby([team, hist["season"]], sort=False)
    state["games_played"] = by_season.cumcount() + 1
    season = by_season.ngroup().to_numpy()
    del by_season  # its codes (32 MB) are `season` now

    def running(values: pd.Series) -> pd.Series:
        return values.groupby(season, sort=False).cumsum()

    state["win_pct_season"] = running(hist["win"]) / state["games_played"]
    scored = running(hist["margin"].notna().astype("float64"))
    state["margin_season"] = running(hist["margin"].fillna(0.0)) / scored.where(scored > 0)
    for home in (True, False):
        split = split_states(hist, windows.first, cfg.split_window, home)
        state[str(split.name)] = split
    frame = pd.DataFrame(state, copy=False)
    # The sort lets go of each column once it has its sorted copy: nothing else may hold them.
    del hist, team, state
    return sorted_by_time(frame, "state_end")


def states_at(rows: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """For each row (a team and a start time), its team's latest state that ended at or before
    the start: the state columns, NaN where the team has none, on the rows' index."""
    found = latest_at_or_before(
        rows["team"].to_numpy(),
        rows["start_time"].to_numpy(dtype="datetime64[us]"),
        states["team"].to_numpy(),
        states["state_end"].to_numpy(dtype="datetime64[us]"),
    )
    hit = found >= 0
    taken = {}
    for column in states.columns.drop(["team", "state_end"]):
        values = np.full(len(rows), np.nan)
        values[hit] = states[column].to_numpy(dtype="float64")[found[hit]]
        taken[column] = values
    return pd.DataFrame(taken, index=rows.index, copy=False)  # the new arrays, not stacked


def schedule_features(
    tg: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig
) -> dict[str, np.ndarray]:
    """Rest days, back-to-back and season progress: from the schedule only (no results). In
    `tg`'s row order (each value put back in place by position: aligning the team order's
    index on `tg`'s cost about a second at a million games)."""
    order = in_team_order(tg, np.arange(len(tg)), "start_time", ["team", "start_time", "season"])
    prev = order.groupby("team", sort=False)["start_time"].shift(1)
    days = ((order["start_time"] - prev).dt.total_seconds() / 86400).round() - 1
    rest = days.clip(lower=0, upper=cfg.max_rest_days).fillna(cfg.max_rest_days)
    number = order.groupby(["team", "season"], sort=False).cumcount()
    columns = {
        "rest_days": rest,
        "back_to_back": (rest == 0).astype("float64"),
        "season_progress": (number / league.games_per_season).clip(upper=1.5),
    }
    at = tg.index.get_indexer(order.index)  # a position in `tg` per row of `order`
    out = {}
    for name, values in columns.items():
        out[name] = np.empty(len(tg), dtype="float64")
        out[name][at] = values.to_numpy(dtype="float64")
    return out


# What `context.game_context` gives each team-game besides its keys.
CONTEXT_COLUMNS = ["season", "rest_days", "back_to_back", "season_progress", "league_home_margin"]


def pregame(rows: pd.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """The model's features of team-games from each one's context (`CONTEXT_COLUMNS`) and its
    team's latest state before it (`state_columns`, NaN where the team has none): the same code
    for training rows and for serving."""
    same_season = (rows["state_season"] == rows["season"]).fillna(False).to_numpy(dtype=bool)
    out = {}
    for column in feature_columns(cfg):
        if column == "elo_pre":
            out[column] = pregame_elo(rows, cfg.elo)
        elif column in ("games_played", "win_pct_season", "margin_season"):  # this season's
            out[column] = rows[column].where(same_season)
        else:
            out[column] = rows[column]
    out["games_played"] = out["games_played"].fillna(0)
    # Columns passed through as they are, not copied (a million games: 300 MB): `rows` is
    # each caller's own temporary frame.
    return pd.DataFrame(out, index=rows.index, copy=False)


def team_games_with_results(
    games: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig, elo: bool = True
) -> tuple[pd.DataFrame, np.ndarray]:
    """`team_games` with the league's home margin, Elo after each game and the schedule
    features. Without `elo` (a game's context does not read it, the states do), no Elo: the
    compiled loop is neither loaded nor run (a daily run's monitor builds every game's
    context)."""
    tg, names = team_games(games, league)
    home_margin = league_home_margin(tg, cfg.league_home)
    tg["league_home_margin"] = np.concatenate([home_margin, home_margin])
    if elo:
        tg["elo_post"] = elo_after_games(tg, cfg.elo, home_margin)
    for name, values in schedule_features(tg, cfg, league).items():
        tg[name] = values
    return tg, names


def states_table(games: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig) -> pd.DataFrame:
    """Every team's state after each of its final games (what Feast stores): team name,
    `event_timestamp` (the game's end) and the state columns."""
    tg, names = team_games_with_results(games, cfg, league)
    return _states_frame(team_states(tg, cfg), names, cfg)


def _states_frame(states: pd.DataFrame, names: np.ndarray, cfg: FeaturesConfig) -> pd.DataFrame:
    """The states as Feast stores them: team names, `event_timestamp`, float state columns.
    The float columns are the states' own arrays, not copies (`out[c] = array` copies each:
    a million games, 16 columns of 2M rows, 260 MB)."""
    columns = {
        "team": names[states["team"].to_numpy()],
        "event_timestamp": states["state_end"].astype("datetime64[us, UTC]").array,
        **{c: states[c].to_numpy(dtype="float64") for c in state_columns(cfg)},
    }
    return pd.DataFrame(columns, copy=False)


def team_features(games: pd.DataFrame, cfg: FeaturesConfig, league: LeagueConfig) -> pd.DataFrame:
    """One row per (team, game), every feature computed from games that ended before it."""
    tg, names = team_games_with_results(games, cfg, league)
    rows = feature_rows(tg)
    return _features_frame(games, rows, states_at(rows, team_states(tg, cfg)), names, cfg)


# The columns of a team-game that its feature row takes from `team_games`.
ROW_COLUMNS = ["team", "game", "start_time", "season", "is_home", "neutral", "opponent"]


def feature_rows(tg: pd.DataFrame) -> pd.DataFrame:
    """The team-games of the feature table in its order (start time, then game, a game's home
    side first), with only the columns it reads: `tg` can be let go before the states are
    looked up (2M team-games: each full copy of `tg` is 300 MB)."""
    order = np.lexsort(
        (
            ~tg["is_home"].to_numpy(dtype=bool),
            tg["game"].to_numpy(),
            tg["start_time"].to_numpy(dtype="datetime64[us]"),
        )
    )
    taken = {c: tg[c].array.take(order) for c in [*ROW_COLUMNS, *CONTEXT_COLUMNS]}
    return pd.DataFrame(taken, copy=False)


def _features_frame(
    games: pd.DataFrame,
    taken: pd.DataFrame,
    state: pd.DataFrame,
    names: np.ndarray,
    cfg: FeaturesConfig,
) -> pd.DataFrame:
    """The feature table of `feature_rows`, each row with its team's latest state before it
    (`state`: `states_at` of the rows)."""
    # The arrays as they are: no copies.
    rows = pd.DataFrame({**{c: taken[c] for c in taken.columns}, **state}, copy=False)
    ids = {
        "team": names[rows["team"].to_numpy()],
        "game_id": games["game_id"].to_numpy()[rows["game"].to_numpy()],
        "event_timestamp": rows["start_time"].astype("datetime64[us, UTC]").array,
        "season": rows["season"].to_numpy(),
        "is_home": rows["is_home"].to_numpy(),
        "neutral": rows["neutral"].to_numpy(),
        "opponent": names[rows["opponent"].to_numpy()],
    }
    return pd.DataFrame({**ids, **pregame(rows, cfg)}, copy=False)


# The store's columns the team features and the sources' tables are built from.
FEATURE_INPUTS = [
    "game_id",
    "season",
    "start_time",
    "home_team",
    "away_team",
    "home_score",
    "away_score",
    "home_won",
    "neutral",
    "status",
]


class FeatureSummary(BaseModel):
    """What a feature build wrote."""

    path: Path
    rows: int
    games: int
    teams: int
    features: list[str]
    latest_event: datetime | None
    states_path: Path | None = None
    states: int = 0


@releasing_memory
def write_team_features(config: GamelineConfig, reuse: bool = False) -> FeatureSummary:
    """Recompute the team features and the team states from the whole raw store and write
    them atomically. With `reuse`, tables built from exactly the same inputs are kept as they
    are (`fingerprint`: a daily run with nothing new)."""
    inputs = inputs_fingerprint(config)
    if reuse and (built := current_build(config, inputs)) is not None:
        return FeatureSummary.model_validate(built)
    paths = state_paths(config)
    games = read_store(paths.raw_games, FEATURE_INPUTS)
    release_memory()  # the file's Arrow buffers, converted
    # Each step once, each table written and let go before the next is built (1M games: the
    # feature table alone is 2M rows and 25 columns). (Writing the states in a thread while the
    # features were built saved 0.5-1.4 s at a million games and held 0.8 GB more at ten.)
    tg, names = team_games_with_results(games, config.features, config.league)
    team_state_rows = team_states(tg, config.features)
    states = _states_frame(team_state_rows, names, config.features)
    write_parquet(states, paths.team_states)
    n_states = len(states)
    del states
    release_memory()  # a million games: 300 MB freed, kept by the process without it
    rows = feature_rows(tg)
    del tg
    state = states_at(rows, team_state_rows)
    del team_state_rows  # looked up: let go before the feature columns are made (270 MB)
    release_memory()
    features = _features_frame(games, rows, state, names, config.features)
    del rows, state
    release_memory()
    write_parquet(features, paths.team_features)
    write_source_tables(config, games)
    latest = features["event_timestamp"].max() if len(features) else None
    summary = FeatureSummary(
        path=paths.team_features,
        rows=len(features),
        # Every game of the store has its two rows, and the store holds a game id once (its
        # key: the upsert reindexes by it); counting distinct ids hashed 2M strings (0.4 s).
        games=len(games),
        teams=len(names),  # every team of a game
        features=feature_columns(config.features),
        latest_event=latest.to_pydatetime() if latest is not None else None,
        states_path=paths.team_states,
        states=n_states,
    )
    record_build(config, inputs, summary.model_dump(mode="json"))
    return summary
