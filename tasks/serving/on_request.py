"""Games scored on request (the HTTP API): the same rows, features and models as the batch
predict stage. A requested game that the game store holds (same teams, same start) is that
game, so its probability is the one batch predict serves; any other game is added to the
schedule as a scheduled game, and its context (rest, back-to-back, season progress) comes from
the schedule around it, as a stored game's would.
"""

from __future__ import annotations

import difflib
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, Field

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import conform, local_dates
from gameline.tasks.data.sources import season_of_dates
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.features.team import game_context
from gameline.tasks.serving.predict import ServedModel, score_games

KEY = ["home_team", "away_team", "start_time"]  # a requested game is a stored game if these match


class GameRequest(BaseModel):
    """One game to score: the teams' codes, the start (with its UTC offset) and a neutral site."""

    home: str = Field(min_length=1, max_length=64)
    away: str = Field(min_length=1, max_length=64)
    start_time: AwareDatetime
    neutral: bool = False


class GameScore(BaseModel):
    """A requested game's probability of a home win, by the champion (the challenger's in
    shadow), with the versions that scored it and the age of each team's features."""

    game_id: str
    home: str
    away: str
    start_time: datetime
    stored_game: bool  # the game store holds this game (batch predict scores the same row)
    p_home: float
    champion_version: str
    p_challenger: float | None
    challenger_version: str | None
    home_feature_time: datetime | None
    away_feature_time: datetime | None
    features_age_hours: float | None  # the older side's
    feature_source: str  # online, or offline when the online store is down
    note: str | None = None  # e.g. a team without a finished game yet


class UnknownTeam(LookupError):
    """A team code the league does not know; names the closest known codes."""

    def __init__(self, team: str, known: list[str]) -> None:
        close = difflib.get_close_matches(team, known, n=3, cutoff=0.3) or known[:3]
        super().__init__(f"unknown team {team!r}; closest known: {', '.join(close)}")
        self.team, self.close = team, close


class BadRequest(ValueError):
    """A request that cannot be a game (the same team on both sides)."""


def known_teams(config: GamelineConfig, games: pd.DataFrame) -> list[str]:
    """The league's team codes: the declared list, else every team of the game store."""
    if config.league.teams:
        return sorted(config.league.teams)
    return sorted(set(games["home_team"].astype(str)) | set(games["away_team"].astype(str)))


def request_rows(
    config: GamelineConfig, games: pd.DataFrame, requests: list[GameRequest]
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(the schedule with the requested games not in it added, the requested games' rows in
    request order, whether each was already stored). UnknownTeam or BadRequest if one cannot
    be a game of this league."""
    teams = known_teams(config, games)
    known = set(teams)
    for request in requests:
        for team in (request.home, request.away):
            if team not in known:
                raise UnknownTeam(team, teams)
        if request.home == request.away:
            raise BadRequest(f"{request.home} cannot play itself")
    wanted = pd.DataFrame(
        {
            "home_team": [r.home for r in requests],
            "away_team": [r.away for r in requests],
            "start_time": pd.to_datetime([r.start_time for r in requests], utc=True).astype(
                "datetime64[us, UTC]"
            ),
            "neutral": [r.neutral for r in requests],
        }
    )
    ids = _game_ids(wanted, games)
    is_stored = ids.notna().to_numpy()
    new = wanted[~is_stored].drop_duplicates(KEY)
    schedule = games
    if len(new):
        season = season_of_dates(local_dates(new["start_time"], config.league), config.league)
        added = conform(
            new.assign(season=season.to_numpy(), status="scheduled"), config.league, "request"
        )
        added["game_id"] = added["game_id"] + "-request"  # never a stored game's id
        schedule = pd.concat([games, added], ignore_index=True)
        ids = _game_ids(wanted, schedule)
    by_id = schedule.drop_duplicates("game_id", keep="first").set_index("game_id")
    rows = by_id.loc[ids.astype(str)].reset_index()
    rows["neutral"] = wanted["neutral"].to_numpy() | rows["neutral"].fillna(False).to_numpy()
    return schedule, rows, is_stored


def _game_ids(wanted: pd.DataFrame, schedule: pd.DataFrame) -> pd.Series:
    """The schedule's game id of each wanted game (null where it has none)."""
    keyed = schedule[[*KEY, "game_id"]].astype({"home_team": str, "away_team": str})
    return wanted.merge(keyed.drop_duplicates(KEY), on=KEY, how="left")["game_id"]


def score_requests(
    config: GamelineConfig,
    store: TeamFeatureStore,
    games: pd.DataFrame,
    requests: list[GameRequest],
    now: datetime,
    champion: ServedModel,
    challenger: ServedModel | None,
    offline: bool = False,
) -> list[GameScore]:
    """Each requested game scored from the online store (the offline store with `offline`) by
    the champion, the challenger in shadow; in request order."""
    schedule, rows, is_stored = request_rows(config, games, requests)
    context = game_context(schedule, config.features, config.league)
    scored = score_games(store, rows, context, now, champion, challenger, offline)
    out = []
    for row, stored in zip(scored.to_dict("records"), is_stored, strict=True):
        home_ts, away_ts = _time(row["home_feature_ts"]), _time(row["away_feature_ts"])
        stamps = [t for t in (home_ts, away_ts) if t is not None]
        age = (now - min(stamps)).total_seconds() / 3600 if stamps else None
        sides = ((row["home_team"], home_ts), (row["away_team"], away_ts))
        without = [str(team) for team, ts in sides if ts is None]
        p_challenger = float(row["p_challenger"]) if challenger else None
        out.append(
            GameScore(
                game_id=str(row["game_id"]),
                home=str(row["home_team"]),
                away=str(row["away_team"]),
                start_time=pd.Timestamp(row["event_timestamp"]).to_pydatetime(),
                stored_game=bool(stored),
                p_home=float(row["p_champion"]),
                champion_version=champion.version,
                p_challenger=p_challenger,
                challenger_version=challenger.version if challenger else None,
                home_feature_time=home_ts,
                away_feature_time=away_ts,
                features_age_hours=round(age, 3) if age is not None else None,
                feature_source="offline" if offline else "online",
                note=(
                    f"no finished game yet for {', '.join(without)}: scored without its state"
                    if without
                    else None
                ),
            )
        )
    return out


def _time(value: object) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
