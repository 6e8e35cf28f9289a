"""Games scored on request (the HTTP API): the same rows, features and models as the batch
predict stage. A requested game that the game store holds (same teams, same start) is that
game, so its probability is the one batch predict serves; any other game is added to the
schedule as a scheduled game, and its context (rest, back-to-back, season progress) comes from
the schedule around it, as a stored game's would.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections import OrderedDict
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, Field

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import conform, local_dates
from gameline.tasks.data.sources import season_of_dates
from gameline.tasks.features.context import game_context
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.model.inputs import LINE_INPUTS
from gameline.tasks.model.targets import PRICE_COLUMNS
from gameline.tasks.serving.predict import ServedModel, score_games

KEY = ["home_team", "away_team", "start_time"]  # a requested game is a stored game if these match


class GameRequest(BaseModel):
    """One game to score: the teams' codes, the start (with its UTC offset) and a neutral site."""

    home: str = Field(min_length=1, max_length=64)
    away: str = Field(min_length=1, max_length=64)
    start_time: AwareDatetime
    neutral: bool = False
    # The market's lines to price the game at (bookmaker's writing: -4.5 = home favoured by
    # 4.5); without them, the stored game's posted lines, if any. A line is information: the
    # fair spread and total combine the model's numbers with it, as they do in training.
    home_spread: float | None = Field(default=None, ge=-100, le=100)
    total_line: float | None = Field(default=None, ge=0, le=2000)


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
    # The spread and total: the fair lines, and at the lines priced (the request's, else the
    # stored game's) P(home covers) and P(over) given no push, and the chance of a push.
    home_spread: float | None = None
    total_line: float | None = None
    fair_spread: float | None = None
    fair_total: float | None = None
    p_cover: float | None = None
    p_push_spread: float | None = None
    p_over: float | None = None
    p_push_total: float | None = None

    def aged(self, now: datetime) -> GameScore:
        """This answer with the features' age as of `now`."""
        stamps = [t for t in (self.home_feature_time, self.away_feature_time) if t is not None]
        age = round((now - min(stamps)).total_seconds() / 3600, 3) if stamps else None
        return self.model_copy(update={"features_age_hours": age})


class ScoreCache:
    """Answers already computed, by game and by what they depend on (the versions served, the
    game store's and the online store's versions): a slate's games are asked for again and
    again between two loads of the stores. An entry lives at most `ttl_s` seconds, so a store
    changed behind the stamps' back is seen within that time. Thread-safe."""

    def __init__(self, size: int = 4096, ttl_s: float = 60.0) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._entries: OrderedDict[tuple[object, ...], tuple[float, GameScore]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(request: GameRequest, depends_on: tuple[object, ...]) -> tuple[object, ...]:
        start = pd.Timestamp(request.start_time).tz_convert("UTC").value
        lines = (request.home_spread, request.total_line)  # the same game at other lines
        return (request.home, request.away, start, request.neutral, *lines, *depends_on)

    def get(self, keys: list[tuple[object, ...]]) -> list[GameScore] | None:
        """Every key's answer, or None when one is missing or too old."""
        if self.ttl_s <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            found = [self._entries.get(k) for k in keys]
            if any(f is None or now - f[0] > self.ttl_s for f in found):
                return None
            for k in keys:
                self._entries.move_to_end(k)
        return [f[1] for f in found if f is not None]

    def put(self, keys: list[tuple[object, ...]], answers: list[GameScore]) -> None:
        if self.ttl_s <= 0:
            return
        now = time.monotonic()
        with self._lock:
            for k, answer in zip(keys, answers, strict=True):
                self._entries[k] = (now, answer)
                self._entries.move_to_end(k)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class UnknownTeam(LookupError):
    """A team code the league does not know; names the closest known codes."""

    def __init__(self, team: str, known: list[str]) -> None:
        close = difflib.get_close_matches(team, known, n=3, cutoff=0.3) or known[:3]
        super().__init__(f"unknown team {team!r}; closest known: {', '.join(close)}")
        self.team, self.close = team, close


class BadRequest(ValueError):
    """A request that cannot be scored: the same team on both sides, or a game that has
    already started."""


def known_teams(config: GamelineConfig, games: pd.DataFrame) -> list[str]:
    """The league's team codes: the declared list, else every team of the game store."""
    if config.league.teams:
        return sorted(config.league.teams)
    return sorted(set(games["home_team"].astype(str)) | set(games["away_team"].astype(str)))


class Schedule:
    """The game store prepared for requests (built once per version of the store): each game's
    id by (home, away, start), its row by id, and every game's context, computed on first use."""

    def __init__(self, config: GamelineConfig, games: pd.DataFrame) -> None:
        self.config, self.games = config, games
        keyed = games.drop_duplicates(KEY)
        self.ids = dict(
            zip(_keys(keyed), keyed["game_id"].astype(str), strict=True)
        )  # first game of a key, as batch predict's merge takes it
        self.by_id = games.drop_duplicates("game_id", keep="first").set_index(
            games["game_id"].drop_duplicates(keep="first").astype(str)
        )
        self.teams = known_teams(config, games)
        self._context: pd.DataFrame | None = None

    @property
    def context(self) -> pd.DataFrame:
        if self._context is None:
            self._context = game_context(self.games, self.config.features, self.config.league)
        return self._context


def _keys(frame: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(home, away, start in microseconds since the epoch) of each row."""
    starts = pd.DatetimeIndex(frame["start_time"]).tz_convert("UTC").as_unit("us").asi8
    return list(
        zip(
            frame["home_team"].astype(str),
            frame["away_team"].astype(str),
            starts.tolist(),
            strict=True,
        )
    )


def check_requests(teams: list[str], requests: list[GameRequest], now: datetime) -> None:
    """UnknownTeam or BadRequest for a request that cannot be a game of this league: an unknown
    team, a team playing itself, a game that has already started (the online store holds what
    is known now, which a game that started before now must not see)."""
    known = set(teams)
    for request in requests:
        for team in (request.home, request.away):
            if team not in known:
                raise UnknownTeam(team, teams)
        if request.home == request.away:
            raise BadRequest(f"{request.home} cannot play itself")
        if request.start_time < now:
            raise BadRequest(
                f"{request.away} at {request.home} starts {request.start_time.isoformat()}, "
                f"before now ({now.isoformat()}): a game is scored from what is known before "
                "it starts; what was served for past games is in /v1/predictions"
            )


def request_rows(
    config: GamelineConfig, schedule: Schedule, requests: list[GameRequest], now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(the requested games' rows in request order, the context to score them with, whether
    each was already stored). A game the store does not hold is added to the schedule, and
    the context is computed again around it. UnknownTeam or BadRequest (`check_requests`) if
    one cannot be scored."""
    check_requests(schedule.teams, requests, now)
    games = schedule.games
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
    ids = [schedule.ids.get(key) for key in _keys(wanted)]
    is_stored = np.array([i is not None for i in ids], dtype=bool)
    by_id, context = schedule.by_id, None
    if not is_stored.all():
        new = wanted[~is_stored].drop_duplicates(KEY)
        season = season_of_dates(local_dates(new["start_time"], config.league), config.league)
        added = conform(
            new.assign(season=season.to_numpy(), status="scheduled"), config.league, "request"
        )
        added["game_id"] = added["game_id"] + "-request"  # never a stored game's id
        extended = Schedule(config, pd.concat([games, added], ignore_index=True))
        ids = [extended.ids[key] for key in _keys(wanted)]
        by_id, context = extended.by_id, extended.context
    rows = by_id.loc[ids].reset_index(drop=True)
    rows["neutral"] = wanted["neutral"].to_numpy() | rows["neutral"].fillna(False).to_numpy()
    for line in LINE_INPUTS:
        asked = pd.Series([getattr(r, line) for r in requests], dtype="Float64")
        stored = rows[line] if line in rows else pd.Series(pd.NA, index=rows.index)
        rows[line] = asked.fillna(stored.astype("Float64"))
    return rows, schedule.context if context is None else context, is_stored


def score_requests(
    config: GamelineConfig,
    store: TeamFeatureStore,
    schedule: Schedule,
    requests: list[GameRequest],
    now: datetime,
    champion: ServedModel,
    challenger: ServedModel | None,
    offline: bool = False,
) -> list[GameScore]:
    """Each requested game scored from the online store (the offline store with `offline`) by
    the champion, the challenger in shadow; in request order."""
    rows, context, is_stored = request_rows(config, schedule, requests, now)
    scored = score_games(store, rows, context, now, champion, challenger, offline)
    out = []
    for row, stored in zip(scored.to_dict("records"), is_stored, strict=True):
        home_ts, away_ts = _time(row["home_feature_ts"]), _time(row["away_feature_ts"])
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
                features_age_hours=None,
                feature_source="offline" if offline else "online",
                **{line: _number(row[line]) for line in LINE_INPUTS},
                **{column: _number(row[f"{column}_champion"]) for column in PRICE_COLUMNS},
                note=(
                    f"no finished game yet for {', '.join(without)}: scored without its state"
                    if without
                    else None
                ),
            ).aged(now)
        )
    return out


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _time(value: object) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
