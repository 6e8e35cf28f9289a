"""League results files in their own layouts, made by the tests (never stored as data):
baseball-like with doubleheaders and opening and closing moneylines, hockey-like with ties and
overtime, a team that moves (its code changes), and a file in the Game contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def american(p: np.ndarray) -> np.ndarray:
    """American moneylines of probabilities (margin included by the caller)."""
    p = np.clip(p, 0.02, 0.98)
    return np.where(p >= 0.5, -100 * p / (1 - p), 100 * (1 - p) / p).round()


def _schedule(
    rng: np.random.Generator,
    teams: list[str],
    start: str,
    days: int,
    per_day: int,
) -> pd.DataFrame:
    """Random pairings: `per_day` games on each of `days` days from `start`, no team twice."""
    rows = []
    for d in range(days):
        order = rng.permutation(len(teams))[: 2 * per_day]
        for i in range(0, len(order) - 1, 2):
            rows.append((pd.Timestamp(start) + pd.Timedelta(days=d), order[i], order[i + 1]))
    return pd.DataFrame(rows, columns=["day", "home", "away"])


def baseball(path: Path, seed: int = 3) -> dict[str, int]:
    """10 teams, seasons 2022-2025 (April to September, no season column), local start times,
    doubleheaders (two games of the same teams on a date at 13:05 and 19:05), opening and
    closing moneylines. Layout: game_date, v_team, h_team, v_score, h_score, h_ml_open,
    v_ml_open, h_ml_close, v_ml_close. Returns counts (games, doubleheaders)."""
    rng = np.random.default_rng(seed)
    teams = ["BOS", "NYY", "TOR", "BAL", "TB", "CLE", "DET", "KC", "MIN", "CWS"]
    strength = rng.normal(0, 0.35, len(teams))
    frames = []
    for year in range(2022, 2026):
        games = _schedule(rng, teams, f"{year}-04-01", 150, 4)
        games["time"] = "19:05"
        # About 3% of games get a second game the same day, the first moved to the afternoon.
        twice = games.sample(frac=0.03, random_state=int(rng.integers(1_000_000))).copy()
        games.loc[twice.index, "time"] = "13:05"
        frames += [games, twice]
        strength = 0.7 * strength + rng.normal(0, 0.2, len(teams))
        games["edge"] = strength[games["home"]] - strength[games["away"]] + 0.08
        twice["edge"] = strength[twice["home"]] - strength[twice["away"]] + 0.08
    games = pd.concat(frames, ignore_index=True).sort_values(["day", "time"], kind="stable")
    runs_home = rng.poisson(4.5 * np.exp(games["edge"] / 2))
    runs_away = rng.poisson(4.5 * np.exp(-games["edge"] / 2))
    level = runs_home == runs_away  # extra innings: someone wins by one
    home_wins_extra = rng.random(len(games)) < 1 / (1 + np.exp(-games["edge"].to_numpy()))
    runs_home = np.where(level & home_wins_extra, runs_home + 1, runs_home)
    runs_away = np.where(level & ~home_wins_extra, runs_away + 1, runs_away)
    p = 1 / (1 + np.exp(-games["edge"].to_numpy()))
    close = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, 0.08, len(p)))))
    opening = 1 / (1 + np.exp(-(np.log(close / (1 - close)) + rng.normal(0, 0.2, len(p)))))
    out = pd.DataFrame(
        {
            "game_date": games["day"].dt.strftime("%Y-%m-%d") + " " + games["time"],
            "v_team": np.array(teams)[games["away"]],
            "h_team": np.array(teams)[games["home"]],
            "v_score": runs_away,
            "h_score": runs_home,
            "h_ml_open": american(opening * 1.02),
            "v_ml_open": american((1 - opening) * 1.02),
            "h_ml_close": american(close * 1.02),
            "v_ml_close": american((1 - close) * 1.02),
        }
    )
    out.to_csv(path, index=False)
    key = pd.DataFrame({"d": games["day"], "h": games["home"], "a": games["away"]})
    return {"games": len(out), "doubleheaders": int(key.duplicated().sum())}


def hockey(path: Path, seed: int = 5) -> dict[str, int]:
    """12 teams, seasons 2021-2024 named by the year they start (October to April), dates as
    day.month.year, ties after overtime in some games. Layout: GameDate, Season, HomeTeam,
    AwayTeam, HomeGoals, AwayGoals, Decision (REG/OT/TIE), Status (Final, Final/OT)."""
    rng = np.random.default_rng(seed)
    teams = ["MTL", "TOR", "BOS", "NYR", "DET", "CHI", "PIT", "PHI", "EDM", "CGY", "VAN", "WPG"]
    strength = rng.normal(0, 0.25, len(teams))
    rows = []
    for season in range(2021, 2025):
        games = _schedule(rng, teams, f"{season}-10-10", 180, 3)
        games["season"] = season
        games["edge"] = strength[games["home"]] - strength[games["away"]] + 0.1
        rows.append(games)
        strength = 0.7 * strength + rng.normal(0, 0.15, len(teams))
    games = pd.concat(rows, ignore_index=True)
    home = rng.poisson(3.0 * np.exp(games["edge"] / 2))
    away = rng.poisson(3.0 * np.exp(-games["edge"] / 2))
    level = home == away
    overtime = level & (rng.random(len(games)) < 0.6)  # the rest stay tied
    home_first = rng.random(len(games)) < 0.5 + games["edge"].to_numpy() / 4
    home = np.where(overtime & home_first, home + 1, home)
    away = np.where(overtime & ~home_first, away + 1, away)
    decision = np.where(overtime, "OT", np.where(level, "TIE", "REG"))
    out = pd.DataFrame(
        {
            "GameDate": games["day"].dt.strftime("%d.%m.%Y"),
            "Season": games["season"],
            "HomeTeam": np.array(teams)[games["home"]],
            "AwayTeam": np.array(teams)[games["away"]],
            "HomeGoals": home,
            "AwayGoals": away,
            "Decision": decision,
            "Status": np.where(overtime, "Final/OT", "Final"),
        }
    )
    out.to_csv(path, index=False)
    return {"games": len(out), "ties": int((level & ~overtime).sum())}


def relocation(path: Path, seed: int = 9) -> dict[str, int]:
    """8 basketball-like teams, seasons ending 2022-2025 (October to April, no season column);
    SEA becomes OKC from the 2023-24 season on. Layout: date, home, away, home_pts, away_pts."""
    rng = np.random.default_rng(seed)
    teams = ["BOS", "LAL", "SEA", "DEN", "MIA", "CHI", "PHX", "UTA"]
    strength = rng.normal(0, 4.0, len(teams))
    strength[2] = 6.0  # the moving team is the best: its rating must carry over
    rows = []
    for end in range(2022, 2026):
        games = _schedule(rng, teams, f"{end - 1}-10-20", 170, 3)
        games["edge"] = strength[games["home"]] - strength[games["away"]] + 3.0
        rows.append(games)
    games = pd.concat(rows, ignore_index=True)
    margin = np.round(games["edge"] + rng.normal(0, 12, len(games)))
    margin = np.where(margin == 0, 1, margin)
    total = np.round(rng.normal(220, 15, len(games)))
    names = np.array(teams, dtype=object)
    home = names[games["home"]]
    away = names[games["away"]]
    moved = games["day"] >= pd.Timestamp("2023-08-01")
    home = np.where(moved & (home == "SEA"), "OKC", home)
    away = np.where(moved & (away == "SEA"), "OKC", away)
    out = pd.DataFrame(
        {
            "date": games["day"].dt.strftime("%Y-%m-%d"),
            "home": home,
            "away": away,
            "home_pts": ((total + margin) / 2).round().astype(int),
            "away_pts": ((total - margin) / 2).round().astype(int),
        }
    )
    out["away_pts"] = np.where(
        out["home_pts"] == out["away_pts"], out["away_pts"] - 1, out["away_pts"]
    )
    out.to_csv(path, index=False)
    return {"games": len(out)}


def contract(path: Path, seed: int = 11) -> dict[str, int]:
    """The relocation league without the move, in the Game contract's own column names."""
    relocation(path, seed)
    games = pd.read_csv(path)
    games = games.replace({"OKC": "SEA"})
    day = pd.to_datetime(games["date"])
    out = pd.DataFrame(
        {
            "season": day.dt.year + (day.dt.month >= 8).astype(int),
            "start_time": games["date"],
            "home_team": games["home"],
            "away_team": games["away"],
            "home_score": games["home_pts"],
            "away_score": games["away_pts"],
        }
    )
    out.to_csv(path, index=False)
    return {"games": len(out)}


def winner_only(path: Path, seed: int = 13, today: pd.Timestamp | None = None) -> dict[str, int]:
    """A file that says who won, not the score: 10 teams, four seasons of 150 days (the last
    one under way: its games after `today` have no winner yet), a team playing the day after a
    game weaker (which Elo cannot see). Layout: Date (month/day/year), Visitor, Home, Winner (the
    winning team's code), HomeML, AwayML."""
    rng = np.random.default_rng(seed)
    teams = ["ANA", "BUF", "CAR", "DAL", "EDM", "FLA", "LAK", "NSH", "OTT", "SEA"]
    today = (today or pd.Timestamp.now(tz="UTC")).tz_localize(None).normalize()
    strength = rng.normal(0, 0.45, len(teams))
    frames = []
    for back in (3, 2, 1, 0):  # the last season ends 10 days from today
        start = today + pd.Timedelta(days=10 - 150) - pd.Timedelta(days=365 * back)
        games = _schedule(rng, teams, str(start.date()), 150, 3)
        frames.append(games.assign(edge=strength[games["home"]] - strength[games["away"]] + 0.15))
        strength = 0.7 * strength + rng.normal(0, 0.3, len(teams))
    games = pd.concat(frames, ignore_index=True)
    played = {(row.day, t) for row in games.itertuples() for t in (row.home, row.away)}
    before = games["day"] - pd.Timedelta(days=1)
    tired = [
        1.0 * ((day, away) in played) - 1.0 * ((day, home) in played)  # the second night
        for day, home, away in zip(before, games["home"], games["away"], strict=True)
    ]
    games["edge"] += np.asarray(tired)
    p = 1 / (1 + np.exp(-games["edge"].to_numpy()))
    home_won = rng.random(len(games)) < p
    final = (games["day"] < today).to_numpy()
    names = np.array(teams)
    winner = np.where(home_won, names[games["home"]], names[games["away"]])
    out = pd.DataFrame(
        {
            "Date": games["day"].dt.strftime("%m/%d/%Y"),
            "Visitor": names[games["away"]],
            "Home": names[games["home"]],
            "Winner": np.where(final, winner, ""),
            "HomeML": american(p * 1.02),
            "AwayML": american((1 - p) * 1.02),
        }
    )
    out.to_csv(path, index=False)
    return {"games": len(out), "final": int(final.sum()), "scheduled": int((~final).sum())}


LEAGUES = {
    "baseball": baseball,
    "hockey": hockey,
    "relocation": relocation,
    "contract": contract,
    "winner_only": winner_only,
}


if __name__ == "__main__":  # python -m tests.leagues OUT_DIR: the four files, for trying init
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for kind, make in LEAGUES.items():
        print(f"{folder / f'{kind}.csv'}: {make(folder / f'{kind}.csv')}")
