"""A seeded league simulator: the embedded default source of games.

Everything is vectorised per season (a season is a handful of numpy arrays), so a million
games take a few seconds. Latent team strengths (in points) drift within a season and regress
toward the mean between seasons; the home side gets a configurable edge that can change from a
given date (a regime change that the monitoring stage should detect).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr

from gameline.tasks.config import LeagueConfig, SimulatorConfig
from gameline.tasks.contracts import STRING, conform, status_from_scores

# Local tip-off times and how often each is used.
TIP_TIMES_LOCAL = np.array([19 * 60, 19 * 60 + 30, 20 * 60, 22 * 60], dtype=np.int64)
TIP_TIME_WEIGHTS = np.array([0.45, 0.25, 0.15, 0.15])


def team_codes(n_teams: int) -> list[str]:
    """Simulated team codes T01..Tnn (zero-padded to a common width)."""
    width = max(2, len(str(n_teams)))
    return [f"T{i:0{width}d}" for i in range(1, n_teams + 1)]


def team_names(n_teams: int, teams: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The codes of teams given by number (0 for T01), as the contract's Arrow-backed text:
    taken from the n codes in Arrow (a million games' teams from Python strings: 0.2 s a
    column, to be converted to Arrow again)."""
    return pd.array(team_codes(n_teams), dtype=STRING).take(teams)


def round_robin(n_teams: int) -> np.ndarray:
    """Circle-method rounds, shape (n-1, n/2, 2) of (home, away) indices; n made even by a bye."""
    n = n_teams + (n_teams % 2)
    ring = np.arange(n)
    rounds = np.empty((n - 1, n // 2, 2), dtype=np.int64)
    half = np.arange(n // 2)
    for r in range(n - 1):
        pairs = np.stack([ring[half], ring[n - 1 - half]], axis=1)
        flip = np.zeros(n // 2, dtype=bool)
        flip[0] = r % 2 == 1  # the fixed team alternates; the rest are balanced by the rotation
        pairs[flip] = pairs[flip][:, ::-1]
        rounds[r] = pairs
        ring = np.concatenate([ring[:1], ring[-1:], ring[1:-1]])
    return rounds


def season_year_bounds(season: int, label: str, month_day: str) -> date:
    """The local date on which a simulated season starts."""
    month, day = (int(x) for x in month_day.split("-"))
    return date(season - 1 if label == "end" else season, month, day)


def current_season(as_of: datetime, label: str, month_day: str) -> int:
    """The label of the season that is under way (or next to start) at `as_of`."""
    month, day = (int(x) for x in month_day.split("-"))
    started = as_of.date() >= date(as_of.year, month, day)
    first_year = as_of.year if started else as_of.year - 1
    return first_year + 1 if label == "end" else first_year


def _season_games(
    rng: np.random.Generator, cfg: SimulatorConfig, rounds: np.ndarray, strength: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One season's games (round, day, teams, strengths) and the strengths at its end."""
    n_teams = strength.size
    n_cycle = rounds.shape[0]
    cycles = -(-cfg.games_per_team // n_cycle)
    order = np.concatenate([rng.permutation(n_cycle) for _ in range(cycles)])[: cfg.games_per_team]
    pairs = rounds[order].copy()
    flipped = (np.arange(cfg.games_per_team) // n_cycle) % 2 == 1
    pairs[flipped] = pairs[flipped][..., ::-1]
    relabel = rng.permutation(rounds.max() + 1)
    pairs = relabel[pairs]
    gaps = rng.choice(
        [2, 3], p=[cfg.back_to_back_share, 1 - cfg.back_to_back_share], size=cfg.games_per_team
    )
    round_day = np.cumsum(gaps) - gaps[0]
    walk = rng.normal(0, cfg.strength_walk_sd, (cfg.games_per_team, n_teams))
    path = strength[None, :] + np.cumsum(walk, axis=0)
    round_idx = np.repeat(np.arange(cfg.games_per_team), pairs.shape[1])
    home, away = pairs.reshape(-1, 2).T
    real = (home < n_teams) & (away < n_teams)  # drop the bye of an odd league
    home, away, round_idx = home[real], away[real], round_idx[real]
    games = pd.DataFrame(
        {
            "round": round_idx,
            "home": home,
            "away": away,
            "day": round_day[round_idx] + rng.integers(0, 2, size=home.size),
            "tip_minute": rng.choice(TIP_TIMES_LOCAL, p=TIP_TIME_WEIGHTS, size=home.size),
            "home_strength": path[round_idx, home],
            "away_strength": path[round_idx, away],
        }
    )
    return games, path[-1]


def _next_season_strength(
    rng: np.random.Generator, cfg: SimulatorConfig, end_strength: np.ndarray
) -> np.ndarray:
    """Regress toward the mean and add fresh spread so the variance stays stationary."""
    keep = cfg.season_carryover
    centred = end_strength - end_strength.mean()
    fresh = rng.normal(0, cfg.strength_sd * np.sqrt(1 - keep**2), end_strength.size)
    return keep * centred + fresh


def _outcomes(
    rng: np.random.Generator, cfg: SimulatorConfig, games: pd.DataFrame, home_edge: np.ndarray
) -> pd.DataFrame:
    """Scores and bookmaker moneylines for every game (scores are masked later by status)."""
    expected = games["home_strength"].to_numpy() - games["away_strength"].to_numpy() + home_edge
    margin = expected + rng.normal(0, cfg.margin_sd, expected.size)
    total = 2 * cfg.mean_score + rng.normal(0, cfg.total_sd, expected.size)
    home = np.round((total + margin) / 2)
    away = np.round((total - margin) / 2)
    tied = home == away  # overtime: someone wins by a few points
    ot_home_wins = rng.random(expected.size) < ndtr(expected / cfg.margin_sd)
    extra = rng.integers(1, 9, expected.size)
    home = np.where(tied & ot_home_wins, home + extra, home)
    away = np.where(tied & ~ot_home_wins, away + extra, away)
    p_true = ndtr(expected / cfg.margin_sd)
    logit = np.log(p_true / (1 - p_true)) + rng.normal(0, cfg.market_noise_sd, expected.size)
    p_market = 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "home_score": np.clip(home, 0, None),
            "away_score": np.clip(away, 0, None),
            "home_ml": american_odds(p_market * (1 + cfg.market_margin)),
            "away_ml": american_odds((1 - p_market) * (1 + cfg.market_margin)),
            "expected": expected,  # the true expected home margin (the oracle's input)
        },
        index=games.index,
    )


def half_points(values: np.ndarray) -> np.ndarray:
    """Values rounded to the nearest half point, as bookmakers write lines."""
    return np.round(np.asarray(values) * 2) / 2


def market_lines(
    rng: np.random.Generator, cfg: SimulatorConfig, outcomes: pd.DataFrame
) -> pd.DataFrame:
    """The bookmaker's closing spread and total of every game: the true expected margin and
    total seen through `line_noise_pts` of noise, in half points (a whole-number line can push);
    the opening ones `line_move_pts` further from the truth.
    Its own random stream, so the scores and moneylines of every seed stay as they were."""
    expected = outcomes["expected"].to_numpy()
    noise = rng.normal(0, cfg.line_noise_pts, (2, expected.size))
    closing = -(expected + noise[0]), 2 * cfg.mean_score + noise[1]
    # The opening lines: the closing ones before the market moved toward the truth.
    moved = rng.normal(0, cfg.line_move_pts, (2, expected.size))
    return pd.DataFrame(
        {
            "home_spread": half_points(closing[0]),
            "total_line": half_points(closing[1]),
            "home_spread_open": half_points(closing[0] + moved[0]),
            "total_line_open": half_points(closing[1] + moved[1]),
        },
        index=outcomes.index,
    )


def american_odds(implied: np.ndarray) -> np.ndarray:
    """American moneyline for an implied probability (overround included), rounded."""
    q = np.clip(implied, 0.01, 0.99)
    return np.round(np.where(q >= 0.5, -100 * q / (1 - q), 100 * (1 - q) / q))


# The last schedule simulated, by its settings and its last season: a daily run of the demo
# asks for it three times (the games, then each feature source), 70 ms each.
_LAST_SCHEDULE: list[tuple[tuple[str, str, int], pd.DataFrame]] = []
# Larger schedules are not kept: a million games' schedule is 150 MB held for the life of
# the process (a benchmark's whole ingest), and its copy costs more than a daily run saves.
KEEP_SCHEDULE_GAMES = 100_000


def simulate_schedule(cfg: SimulatorConfig, league: LeagueConfig) -> pd.DataFrame:
    """Every game of every simulated season, with scores, before the as-of cut (a copy of the
    last one simulated when the settings and the season under way are the same)."""
    last = current_season(resolve_as_of(cfg), league.season_label, cfg.season_start)
    key = (cfg.model_dump_json(), league.model_dump_json(), last)
    if _LAST_SCHEDULE and _LAST_SCHEDULE[0][0] == key:
        return _LAST_SCHEDULE[0][1].copy()
    schedule = _simulated_schedule(cfg, league, last)
    _LAST_SCHEDULE.clear()
    if len(schedule) <= KEEP_SCHEDULE_GAMES:
        _LAST_SCHEDULE.append((key, schedule.copy()))
    return schedule


def _simulated_schedule(cfg: SimulatorConfig, league: LeagueConfig, last: int) -> pd.DataFrame:
    seasons = range(last - cfg.n_seasons + 1, last + 1)
    rounds = round_robin(cfg.n_teams)
    strength = np.random.default_rng([cfg.seed, 0]).normal(0, cfg.strength_sd, cfg.n_teams)
    frames = []
    for season in seasons:
        rng = np.random.default_rng([cfg.seed, season])
        games, end_strength = _season_games(rng, cfg, rounds, strength)
        start = pd.Timestamp(season_year_bounds(season, league.season_label, cfg.season_start))
        local = start + pd.to_timedelta(games["day"], unit="D")
        games["season"] = season
        games["local_start"] = local + pd.to_timedelta(games["tip_minute"], unit="m")
        edge = np.full(len(games), cfg.home_advantage_pts)
        fatigue = np.full(len(games), cfg.fatigue_pts)
        change = cfg.regime_change
        if change is not None:
            after = (local >= pd.Timestamp(change.start)).to_numpy()
            if change.home_advantage_pts is not None:
                edge[after] = change.home_advantage_pts
            if change.fatigue_pts is not None:
                fatigue[after] = change.fatigue_pts
        home_b2b, away_b2b = back_to_back(games)
        edge -= fatigue * (home_b2b - away_b2b)
        out = star_absences(np.random.default_rng([cfg.seed, season, 1]), cfg, games)
        games["home_star_out"], games["away_star_out"] = out
        edge -= cfg.star_pts * (out[0] - out[1])
        games["neutral"] = False
        if cfg.neutral_share > 0:  # drawn only when asked, so other seeds' games stay the same
            games["neutral"] = rng.random(len(games)) < cfg.neutral_share
            edge[games["neutral"].to_numpy()] = 0.0
        outcomes = _outcomes(rng, cfg, games, edge)
        lines = market_lines(np.random.default_rng([cfg.seed, season, 2]), cfg, outcomes)
        frames.append(pd.concat([games, outcomes, lines], axis=1))
        strength = _next_season_strength(rng, cfg, end_strength)
    return pd.concat(frames, ignore_index=True)


def star_absences(
    rng: np.random.Generator, cfg: SimulatorConfig, games: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Whether the home and the away team's star misses each game: a Markov chain per team over
    its rounds (out with `star_out_rate` after a game played, back with `star_return_rate`), so
    absences come in spells, as injuries do. Its own random stream: other draws are unchanged."""
    rounds = int(games["round"].max()) + 1 if len(games) else 0
    n_teams = int(max(games["home"].max(), games["away"].max())) + 1 if len(games) else 0
    state = np.zeros((rounds, n_teams), dtype=bool)
    current = np.zeros(n_teams, dtype=bool)
    draws = rng.random((rounds, n_teams))
    for r in range(rounds):
        current = np.where(current, draws[r] >= cfg.star_return_rate, draws[r] < cfg.star_out_rate)
        state[r] = current
    r = games["round"].to_numpy()
    home = state[r, games["home"].to_numpy()].astype(float)
    away = state[r, games["away"].to_numpy()].astype(float)
    return home, away


def back_to_back(games: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """1.0 where the home (and the away) team played the day before (the second night of a
    back-to-back): each team's games in day order (home rows before away rows on a tie), the
    day after its previous one."""
    n = len(games)
    team = np.concatenate([games["home"].to_numpy(), games["away"].to_numpy()])
    day = np.concatenate([games["day"].to_numpy(), games["day"].to_numpy()])
    order = np.lexsort((day, team))  # stable: a tie keeps the home row first
    flags = np.zeros(2 * n)
    after = (team[order][1:] == team[order][:-1]) & (np.diff(day[order]) == 1)
    flags[order[1:]] = after
    return flags[:n], flags[n:]


def resolve_as_of(cfg: SimulatorConfig) -> datetime:
    """The simulated 'now': the configured instant, else the current hour (UTC), so runs
    within one hour see the same league (the same content: an ingest is then a no-op)."""
    if cfg.as_of is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return cfg.as_of if cfg.as_of.tzinfo else cfg.as_of.replace(tzinfo=UTC)


def utc_starts(games: pd.DataFrame, league: LeagueConfig) -> pd.Series:
    """The simulated games' start times in UTC."""
    return (
        games["local_start"]
        .dt.tz_localize(league.timezone, ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .astype("datetime64[us, UTC]")
    )


def simulate_games(cfg: SimulatorConfig, league: LeagueConfig) -> pd.DataFrame:
    """Simulated games in the Game contract: finals before as-of, scheduled for the next days."""
    games = simulate_schedule(cfg, league)
    start = utc_starts(games, league)
    as_of = pd.Timestamp(resolve_as_of(cfg))
    end = start + pd.Timedelta(hours=league.game_duration_hours)
    final = (end <= as_of).to_numpy()
    keep = np.flatnonzero(final | (start < as_of + pd.Timedelta(days=cfg.upcoming_days)))
    # The kept games in start order (a stable sort), each column taken once.
    order = keep[np.argsort(start.to_numpy(dtype="datetime64[us]")[keep], kind="stable")]
    frame = pd.DataFrame(
        {
            "season": games["season"].to_numpy()[order],
            "start_time": start.array.take(order),
            "home_team": team_names(cfg.n_teams, games["home"].to_numpy()[order]),
            "away_team": team_names(cfg.n_teams, games["away"].to_numpy()[order]),
            "home_score": games["home_score"].where(final).to_numpy()[order],
            "away_score": games["away_score"].where(final).to_numpy()[order],
            **{c: games[c].to_numpy()[order] for c in LINE_COLUMNS},
            "neutral": games["neutral"].to_numpy()[order],
        },
        copy=False,
    )
    frame["status"] = status_from_scores(frame["home_score"], frame["away_score"])
    frame["source_line"] = np.arange(1, len(frame) + 1)
    return conform(frame, league, source=f"simulator(seed={cfg.seed})")


# The market's columns of a simulated game, as the contract names them.
LINE_COLUMNS = [
    "home_ml",
    "away_ml",
    "home_spread",
    "total_line",
    "home_spread_open",
    "total_line_open",
]

# Box-score noise: a team's net rating in one game is its strength that night plus this much.
NET_RATING_NOISE = 6.0


def _iso_text(naive: pd.Series, unit: Literal["D", "s"]) -> np.ndarray:
    """ISO text of naive times to the day ("D": 'YYYY-MM-DD') or the second ("s":
    'YYYY-MM-DDTHH:MM:SS'), as objects: what `strftime` writes, in NumPy (it cost a sixth of a
    no-trigger day of the demo)."""
    values = naive.to_numpy(dtype="datetime64[ns]").astype(f"datetime64[{unit}]")
    return np.datetime_as_string(values, unit=unit).astype(object)


def simulate_sources(cfg: SimulatorConfig, league: LeagueConfig) -> dict[str, pd.DataFrame]:
    """The simulator's feature sources, as a user's files would have them:
    - `star` (a team timeline): each team's star out (1) or playing (0), stamped
      `star_notice_hours` before each of its games, for facts known by the simulated now;
    - `box_score` (team game stats): each team's net rating (its strength that night, seen
      through a game's noise) and pace in each finished game, by local date and team."""
    games = simulate_schedule(cfg, league)
    codes = np.array(team_codes(cfg.n_teams), dtype=object)
    start = utc_starts(games, league)
    as_of = pd.Timestamp(resolve_as_of(cfg))
    final = (start + pd.Timedelta(hours=league.game_duration_hours) <= as_of).to_numpy()
    known_at = start - pd.Timedelta(hours=cfg.star_notice_hours)
    noise = np.random.default_rng([cfg.seed, 2]).normal(0, 1, (3, len(games)))
    star, box = [], []
    for i, side in enumerate(("home", "away")):
        team = codes[games[side].to_numpy()]
        star.append(
            pd.DataFrame(
                {
                    "team": team,
                    "known_at": known_at,
                    "star_out": games[f"{side}_star_out"].astype(int),
                }
            )[(known_at <= as_of).to_numpy()]
        )
        sign = 1.0 if side == "home" else -1.0
        strength = games[f"{side}_strength"] - cfg.star_pts * games[f"{side}_star_out"]
        other = games["away_strength" if side == "home" else "home_strength"]
        box.append(
            pd.DataFrame(
                {
                    "date": _iso_text(games["local_start"], "D"),
                    "team": team,
                    "net_rating": np.round(
                        strength - other + sign * NET_RATING_NOISE * noise[i], 1
                    ),
                    "pace": np.round(98 + 3 * noise[2], 1),
                }
            )[final]
        )
    timeline = pd.concat(star).sort_values("known_at", kind="stable").reset_index(drop=True)
    utc = timeline["known_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    timeline["known_at"] = _iso_text(utc, "s") + "Z"
    return {
        "star": timeline,
        "box_score": pd.concat(box).sort_values("date", kind="stable").reset_index(drop=True),
    }


def true_probabilities(
    cfg: SimulatorConfig, league: LeagueConfig, without_star: bool = False
) -> pd.DataFrame:
    """The simulator's true P(home win) of every game, by game_id: the oracle a model of the
    results can at best approach (`without_star`: the oracle blind to the star factor)."""
    games = simulate_games(cfg, league)
    schedule = simulate_schedule(cfg, league)
    start = utc_starts(schedule, league)
    expected = schedule["expected"].to_numpy()
    if without_star:
        star = schedule["home_star_out"] - schedule["away_star_out"]
        expected = expected + cfg.star_pts * star.to_numpy()
    p = ndtr(expected / cfg.margin_sd)
    codes = np.array(team_codes(cfg.n_teams), dtype=object)
    keyed = pd.DataFrame(
        {
            "start_time": start,
            "home_team": codes[schedule["home"].to_numpy()],
            "away_team": codes[schedule["away"].to_numpy()],
            "p_true": p,
        }
    )
    return games[["game_id", "start_time", "home_team", "away_team"]].merge(
        keyed, on=["start_time", "home_team", "away_team"], how="left"
    )[["game_id", "p_true"]]


def true_line_probabilities(
    cfg: SimulatorConfig, league: LeagueConfig, draws: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """The oracle at the lines: each game's true P(home covers) and P(over) given no push, by
    game_id, from `draws` replays of the simulator's own scoring (normal margin and total,
    rounded scores, overtime for a level game) around its true expected margin."""
    games = simulate_games(cfg, league)
    schedule = simulate_schedule(cfg, league)
    rng = np.random.default_rng(seed)
    expected = schedule["expected"].to_numpy()
    spread = schedule["home_spread"].to_numpy()
    line = schedule["total_line"].to_numpy()
    cover = np.empty(expected.size)
    over = np.empty(expected.size)
    for start in range(0, expected.size, 500):
        mu = expected[start : start + 500, None]
        n = mu.shape[0]
        margin = mu + rng.normal(0, cfg.margin_sd, (n, draws))
        total = 2 * cfg.mean_score + rng.normal(0, cfg.total_sd, (n, draws))
        home, away = np.round((total + margin) / 2), np.round((total - margin) / 2)
        tied = home == away
        home_wins = rng.random((n, draws)) < ndtr(mu / cfg.margin_sd)
        extra = rng.integers(1, 9, (n, draws))
        home = np.clip(np.where(tied & home_wins, home + extra, home), 0, None)
        away = np.clip(np.where(tied & ~home_wins, away + extra, away), 0, None)
        edge = home - away + spread[start : start + 500, None]
        cover[start : start + n] = (edge > 0).sum(1) / np.maximum((edge != 0).sum(1), 1)
        above = home + away - line[start : start + 500, None]
        over[start : start + n] = (above > 0).sum(1) / np.maximum((above != 0).sum(1), 1)
    codes = np.array(team_codes(cfg.n_teams), dtype=object)
    keyed = pd.DataFrame(
        {
            "start_time": utc_starts(schedule, league),
            "home_team": codes[schedule["home"].to_numpy()],
            "away_team": codes[schedule["away"].to_numpy()],
            "p_cover_true": cover,
            "p_over_true": over,
        }
    )
    return games[["game_id", "start_time", "home_team", "away_team"]].merge(
        keyed, on=["start_time", "home_team", "away_team"], how="left"
    )[["game_id", "p_cover_true", "p_over_true"]]
