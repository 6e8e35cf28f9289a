"""Feast's point-in-time join, exactly, on the views' parquet tables: entity rows of games, and
for each projection the latest feature row of the entity's key (a team, or the game itself)
with feature_ts <= entity_ts and feature_ts >= entity_ts - ttl. Pure pandas; `features.store`
proves it equals Feast's own. `latest_at_or_before`: the same as-of lookup on NumPy keys, which
the team features use over millions of team-games."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from gameline.tasks.contracts import LABEL, SPREAD_COLUMNS, TOTAL_COLUMNS, home_win


def entity_frame(games: pd.DataFrame) -> pd.DataFrame:
    """Entity rows for games: ids, both teams and the game's start as the entity timestamp."""
    return pd.DataFrame(
        {
            "game_id": games["game_id"].astype(str).to_numpy(),
            "home_team": games["home_team"].astype(str).to_numpy(),
            "away_team": games["away_team"].astype(str).to_numpy(),
            "event_timestamp": games["start_time"].astype("datetime64[us, UTC]").array,
        }
    )


def labels(games: pd.DataFrame) -> pd.DataFrame:
    """The label and the game's context (season, site, scores, odds, lines) by game_id."""
    home, away = games["home_score"].astype("float64"), games["away_score"].astype("float64")
    return pd.DataFrame(
        {
            "game_id": games["game_id"].astype(str).to_numpy(),
            "season": games["season"].to_numpy(dtype="int64"),
            "neutral": games["neutral"].to_numpy(dtype=bool),
            "playoff": games["playoff"].to_numpy(dtype=bool),
            "home_score": home.to_numpy(),
            "away_score": away.to_numpy(),
            "home_ml": games["home_ml"].astype("float64").to_numpy(),
            "away_ml": games["away_ml"].astype("float64").to_numpy(),
            "home_ml_open": games["home_ml_open"].astype("float64").to_numpy(),
            "away_ml_open": games["away_ml_open"].astype("float64").to_numpy(),
            **{
                line: games[line].astype("float64").to_numpy()
                for line in (*SPREAD_COLUMNS, *TOTAL_COLUMNS)
            },
            LABEL: home_win(home, away, games.get("home_won")),
        }
    )


# A projection of the FeatureService: (name used, view name, entity join key, feature names).
Projection = tuple[str, str, str, list[str]]


def projected_column(projection: str, feature: str) -> str:
    """A joined feature's column: `home__f` / `away__f` for the home and away projections of a
    team view (`home`, `home_<source>`), `game__f` for a game view's (`game_<source>`)."""
    return f"{projection.split('_', 1)[0]}__{feature}"


def point_in_time_join(
    entities: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    projections: list[Projection],
    ttl: timedelta,
) -> pd.DataFrame:
    """Feast's join: per projection, the latest row of its view's table (`tables` by view
    name) for the entity's key (its team, or the game) with feature_ts <= entity_ts and
    feature_ts >= entity_ts - ttl."""
    out = entities.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    for name, view, join_key, names in projections:
        table = tables[view]
        key = "game_id" if "game_id" in table else "team"
        right = table[[key, "event_timestamp", *names]].rename(
            columns={key: join_key, **{f: projected_column(name, f) for f in names}}
        )
        right = right.rename(columns={"event_timestamp": "_feature_ts"}).sort_values(
            "_feature_ts", kind="stable"
        )
        out = pd.merge_asof(
            out,
            right,
            left_on="event_timestamp",
            right_on="_feature_ts",
            by=join_key,
            direction="backward",
            allow_exact_matches=True,
            tolerance=pd.Timedelta(ttl),
        ).drop(columns="_feature_ts")
    return out


def in_game_order(joined: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    """A joined frame back in the entities' order (Feast does not keep row order)."""
    order = pd.Series(range(len(entities)), index=entities["game_id"])
    return (
        joined.assign(_order=order[joined["game_id"]].to_numpy())
        .sort_values("_order")
        .drop(columns="_order")
    )


def latest_at_or_before(
    keys: np.ndarray, times: np.ndarray, state_keys: np.ndarray, state_times: np.ndarray
) -> np.ndarray:
    """For each (key, time), the position of the state with the same key and the latest
    state time at or before it (-1 where there is none); of states with equal key and time, the
    last. `merge_asof(by=key)` with NumPy's binary search: one sort of the states, no copies of
    the rows (2M team-games: 0.5 s against merge_asof's 4 s)."""
    if not len(state_keys):
        return np.full(len(keys), -1, np.int64)
    # Times as dense ranks, so a (key, rank) pair packs into one int64 whatever the time span.
    both = np.concatenate([times, state_times]).view(np.int64)
    ranks = np.unique(both, return_inverse=True)[1].reshape(-1)
    span = np.int64(ranks.max() + 1)
    packed = state_keys.astype(np.int64) * span + ranks[len(times) :]
    order = np.argsort(packed, kind="stable")
    wanted = keys.astype(np.int64) * span + ranks[: len(times)]
    by_want = np.argsort(wanted, kind="stable")  # sorted needles: a cache-friendly search
    found = np.empty(len(wanted), np.int64)
    found[by_want] = np.searchsorted(packed[order], wanted[by_want], "right") - 1
    position = order[np.maximum(found, 0)]
    return np.where((found >= 0) & (state_keys[position] == keys), position, -1)
