"""The guesses `gameline init` makes (column names, date formats, codes, seasons, renamed teams)
and the closing-line value of bets at the opening line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import LeagueConfig, SeasonWindow
from gameline.tasks.contracts import GAME_COLUMNS, empty_games
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import season_of_dates
from gameline.tasks.model.metrics import closing_line_value
from gameline.tasks.onboard import (
    find_relocations,
    guess_columns,
    guess_date_format,
    guess_values,
    parse_columns_option,
    sport_of_scoring,
    walk_forward_seasons,
    year_window,
)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            ["Date", "Visitor", "VisitorScore", "Home", "HomeScore"],
            {"start_time": "Date", "away_team": "Visitor", "away_score": "VisitorScore",
             "home_team": "Home", "home_score": "HomeScore"},
        ),
        (
            ["date", "season", "team1", "team2", "score1", "score2", "elo_prob1"],
            {"start_time": "date", "season": "season", "home_team": "team1", "away_team": "team2",
             "home_score": "score1", "away_score": "score2"},
        ),
        (
            ["game_date", "h_team", "v_team", "h_final", "v_final", "moneyline_home",
             "away_ml_open"],
            {"start_time": "game_date", "home_team": "h_team", "away_team": "v_team",
             "home_score": "h_final", "away_score": "v_final", "home_ml": "moneyline_home",
             "away_ml_open": "away_ml_open"},
        ),
        (
            ["GameDate", "HomeTeam", "AwayTeam", "PTS_home", "PTS_away", "GameNo", "Playoffs"],
            {"start_time": "GameDate", "home_team": "HomeTeam", "away_team": "AwayTeam",
             "home_score": "PTS_home", "away_score": "PTS_away", "game_number": "GameNo",
             "playoff": "Playoffs"},
        ),
        (
            ["start_time", "home_team", "away_team", "home_score", "away_score", "home_ml"],
            {c: c for c in ["start_time", "home_team", "away_team", "home_score", "away_score",
                            "home_ml"]},
        ),
    ],
)  # fmt: skip
def test_common_column_names_are_recognised(columns: list[str], expected: dict[str, str]) -> None:
    assert guess_columns(columns) == expected


def test_columns_option_names_contract_columns() -> None:
    assert parse_columns_option("home_score=G.1, away_score=G") == {
        "home_score": "G.1",
        "away_score": "G",
    }
    with pytest.raises(ValueError, match="not <contract column>=<file column>"):
        parse_columns_option("home=G")


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2024-05-01", "2024-05-02"], None),
        (["2024-05-01T23:05:00Z", "2024-05-02T01:00:00-04:00"], None),
        (["2024-05-01 13:05", "2024-05-01 19:05"], "%Y-%m-%d %H:%M"),  # local, not UTC
        (["13.10.2021", "28.02.2022"], "%d.%m.%Y"),
        (["10/13/2021", "02/28/2022"], "%m/%d/%Y"),
        (["13/10/2021", "28/02/2022"], "%d/%m/%Y"),
        (["20240501"], "%Y%m%d"),
    ],
)
def test_date_formats(values: list[str], fmt: str | None) -> None:
    assert guess_date_format(pd.Series(values, dtype="string"))[0] == fmt


def test_ambiguous_and_unreadable_dates_are_said() -> None:
    assert "check the order" in guess_date_format(pd.Series(["01/02/2024"], dtype="string"))[1]
    with pytest.raises(ValueError, match="cannot tell the date format"):
        guess_date_format(pd.Series(["next tuesday"], dtype="string"))


def test_status_and_flag_codes() -> None:
    raw = pd.DataFrame(
        {
            "status": ["F", "Final/OT", "SCHED", "postponed", ""],
            "playoff": ["", "P", "", "", ""],
            "neutral": ["0", "1", "0", "0", "1"],
        },
        dtype="string",
    )
    maps, notes = guess_values(raw)
    assert maps["status"] == {"F": "final", "Final/OT": "final", "SCHED": "scheduled"}
    assert maps["playoff"] == {"P": "true"}
    assert "neutral" not in maps  # 1/0 is read as it is
    assert any("postponed" in n for n in notes)


def test_season_window_sits_in_the_off_season() -> None:
    # October to April: the boundary falls in the summer, and the window crosses New Year.
    days = pd.Series(pd.date_range("2021-10-19", "2022-04-10").append(
        pd.date_range("2022-10-18", "2023-04-09")))  # fmt: skip
    start, end, crosses = year_window(days)
    assert "06-01" <= start <= "09-01" and crosses
    assert pd.Timestamp(f"2001-{start}") - pd.Timedelta(days=1) == pd.Timestamp(f"2001-{end}")
    # April to September: the boundary falls in the winter.
    start, _, _ = year_window(pd.Series(pd.date_range("2024-04-01", "2024-09-29")))
    assert start >= "11-01" or start <= "02-01"


@pytest.mark.parametrize(
    ("window", "day", "season"),
    [
        (SeasonWindow(start="08-01", start_year_offset=-1, end="07-31", end_year_offset=0),
         "2021-10-20", 2022),
        (SeasonWindow(start="08-01", start_year_offset=-1, end="07-31", end_year_offset=0),
         "2022-04-10", 2022),
        (SeasonWindow(start="08-01", start_year_offset=0, end="07-31", end_year_offset=1),
         "2022-01-09", 2021),
        (SeasonWindow(start="12-15", start_year_offset=-1, end="12-14", end_year_offset=0),
         "2024-06-01", 2024),
        (SeasonWindow(start="01-01", start_year_offset=0, end="12-31", end_year_offset=0),
         "2024-06-01", 2024),
    ],
)  # fmt: skip
def test_season_of_dates(window: SeasonWindow, day: str, season: int) -> None:
    league = LeagueConfig(name="X", season_window=window)
    assert season_of_dates(pd.Series(pd.to_datetime([day])), league).iloc[0] == season


def _season_games(codes_by_season: dict[int, list[str]]) -> pd.DataFrame:
    """A round robin of the given teams in each season (season = the calendar year)."""
    rows = []
    for year, teams in codes_by_season.items():
        day = pd.Timestamp(f"{year}-03-01")
        for i, home in enumerate(teams):
            for away in teams[i + 1 :]:
                rows.append((day, year, home, away))
                day += pd.Timedelta(days=1)
    return pd.DataFrame(rows, columns=["day", "season", "home_team", "away_team"])


def relocations(games: pd.DataFrame) -> list[tuple[str, str]]:
    return [(r.old, r.new) for r in find_relocations(games, games["day"], games["season"])]


def test_a_code_that_stops_when_another_starts_is_one_franchise() -> None:
    four = ["AAA", "BBB", "CCC", "DDD"]
    moved = ["AAA", "BBB", "NEW", "DDD"]
    assert relocations(_season_games({2021: four, 2022: four, 2023: moved})) == [("CCC", "NEW")]
    # An expansion (nobody left), a team folding, two codes changing at once: no guess.
    assert relocations(_season_games({2021: four, 2022: [*four, "EXP"]})) == []
    assert relocations(_season_games({2021: four, 2022: four[:3]})) == []
    two = ["AAA", "BBB", "NEW", "NW2"]
    assert relocations(_season_games({2021: four, 2022: four, 2023: two})) == []
    # Renamed part of the way through a season.
    middle = pd.concat(
        [
            _season_games({2021: four}),
            _season_games({2022: four}).head(3),
            _season_games({2022: moved})
            .tail(3)
            .assign(day=lambda f: f["day"] + pd.Timedelta(days=30)),
            _season_games({2023: moved}),
        ],
        ignore_index=True,
    )
    assert relocations(middle) == [("CCC", "NEW")]


def test_sport_and_walk_forward_guesses() -> None:
    assert sport_of_scoring(220, 0) == "basketball"
    assert sport_of_scoring(44, 0.005) == "football"
    assert sport_of_scoring(9, 0) == "baseball"
    assert sport_of_scoring(6, 0.05) == "hockey"
    assert sport_of_scoring(2.7, 0.25) == "soccer"
    assert [walk_forward_seasons(n) for n in (2, 3, 4, 5, 10)] == [1, 1, 2, 3, 3]
    with pytest.raises(ValueError, match="at least two seasons"):
        walk_forward_seasons(1)


def test_closing_line_value_of_a_bet_at_the_opening_line() -> None:
    # Opening: home +150 / away -170; the model says 0.55, the opening market about 0.39:
    # a home bet at 2.50. It closed at -110 / -110 (fair 0.5): CLV = 2.5 x 0.5 - 1 = +25%.
    result = closing_line_value(
        y=np.array([1.0, 0.0]),
        p=np.array([0.55, 0.50]),
        opening=(np.array([150.0, -110.0]), np.array([-170.0, -110.0])),
        closing=(np.array([-110.0, -110.0]), np.array([-110.0, -110.0])),
        edge=0.03,
    )
    assert result.bets == 1 and result.games_with_both_lines == 2
    assert result.mean_clv == pytest.approx(0.25)
    assert result.beat_close_share == 1.0 and result.roi == pytest.approx(1.5)


def test_a_store_written_before_opening_lines_reads(tmp_path: Path) -> None:
    old = empty_games().drop(columns=["home_ml_open", "away_ml_open"])
    old.to_parquet(tmp_path / "games.parquet")
    stored = read_store(tmp_path / "games.parquet")
    assert list(stored.columns) == GAME_COLUMNS


def test_two_year_season_labels_read_as_the_first_year() -> None:
    from gameline.tasks.onboard import season_labels

    assert season_labels(pd.Series(["2021-22", "2022/23", "20232024"])) == {
        "2021-22": "2021",
        "2022/23": "2022",
        "20232024": "2023",
    }
    assert season_labels(pd.Series(["2021", "2022"])) == {}


def test_columns_it_cannot_guess_are_asked_for(tmp_path: Path) -> None:
    from gameline.tasks.onboard import read_league_file

    file = tmp_path / "schedule.csv"  # hockey-reference's layout: the goals are "G" and "G.1"
    rows = [
        f"2024-{m:02d}-{d:02d},{a},{2 + d % 3},{h},{1 + d % 4}"
        for m in (1, 2, 3, 10, 11, 12)
        for d in range(1, 28)
        for h, a in (("MTL", "TOR"), ("BOS", "NYR"))
    ]
    file.write_text("Date,Visitor,G,Home,G.1\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"no game has a final score.*--columns away_score="):
        read_league_file(file, "NHL", {})  # G.1 reads as the home score (a 1), G as nothing
    with pytest.raises(ValueError, match="cannot tell which column is home_team"):
        read_league_file(file, "NHL", {"away_team": "Home", "home_score": "G.1"})
    found = read_league_file(file, "NHL", {"home_score": "G.1", "away_score": "G"})
    assert found.columns["home_team"] == "Home" and found.sport.name == "hockey"


def test_k_is_tuned_on_the_seasons_before_the_tests(tmp_path: Path) -> None:
    from gameline.tasks.onboard import K_STEPS, first_test_season, read_league_file
    from tests import leagues

    leagues.hockey(tmp_path / "hockey.csv")
    heard: list[tuple[str, int, int]] = []
    found = read_league_file(
        tmp_path / "hockey.csv", "NHL", {}, progress=lambda *step: heard.append(step)
    )
    assert found.seasons == [2021, 2022, 2023, 2024] and first_test_season(found.seasons) == 2023
    # The tuning reports each K it tries, then that it is done (init's progress bar).
    assert [done for _, done, _ in heard] == list(range(len(K_STEPS) + 1))
    assert {total for _, _, total in heard} == {len(K_STEPS)}
    tuning = found.tuning
    assert tuning is not None and tuning.seasons == "2021-2022"  # never a test season
    assert tuning.k in {round(found.sport.k * step, 2) for step in K_STEPS}
    assert tuning.loss <= tuning.default_loss and found.k == tuning.k
