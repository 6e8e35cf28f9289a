"""Source readers: rows come out in the Game contract; parse problems are named, not hidden."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import LeagueConfig, SourceConfig
from gameline.tasks.contracts import GAME_COLUMNS, PARSE_ERROR, ContractError
from gameline.tasks.data.sources import read_contract_file, read_fivethirtyeight_nfl, read_nba_odds

NBA = LeagueConfig(name="NBA", timezone="America/New_York", default_start_local="19:00")
NFL = LeagueConfig(name="NFL", default_start_local="13:00", allow_ties=True)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_contract_file_dates_times_and_parse_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "games.csv",
        (
            "season,start_time,home_team,away_team,home_score,away_score,neutral\n"
            "2025,2025-01-10,AAA,BBB,101,99,0\n"
            "2025,2025-01-11T01:30:00Z,BBB,AAA,,,false\n"
            "2025,2025-01-12,AAA,BBB,ten,99,maybe\n"
        ),
    )
    games = read_contract_file(path, NBA)
    assert list(games.columns[: len(GAME_COLUMNS)]) == GAME_COLUMNS
    assert games["start_time"].iloc[0] == pd.Timestamp("2025-01-11 00:00", tz="UTC")  # 19:00 EST
    assert games["start_time"].iloc[1] == pd.Timestamp("2025-01-11 01:30", tz="UTC")
    assert games["status"].tolist() == ["final", "scheduled", "scheduled"]
    assert games["game_id"].iloc[0] == "NBA-20250110-AAA-BBB-1"
    assert games["source_line"].tolist() == [2, 3, 4]
    assert games["parse_error"].iloc[:2].isna().all()
    assert "home_score=ten is not a number" in games["parse_error"].iloc[2]
    assert "neutral=maybe is not true/false" in games["parse_error"].iloc[2]


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "season,home_team,away_team\n2025,A,B\n")
    with pytest.raises(ContractError, match=r"bad\.csv.*start_time"):
        read_contract_file(path, NBA)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("latin1.csv", "season,team\n2025,M\xfcnchen\n".encode("latin-1"), "not UTF-8 text"),
        ("garbage.parquet", b"PAR1 not a parquet file", "cannot be read as a parquet table"),
        ("empty.csv", b"", "cannot be read as a CSV table: No columns to parse"),
    ],
)
def test_unreadable_files_name_the_file_not_a_buffer(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    """Read errors say which file and why (they said '<Buffer>' or only the codec's message)."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ContractError) as raised:
        read_contract_file(path, NBA)
    assert str(raised.value).startswith(f"{path}: {says}")
    assert "<Buffer>" not in str(raised.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="file not found"):
        read_nba_odds(tmp_path / "none.csv", NBA)


def test_nba_odds_adapter(tmp_path: Path) -> None:
    head = (
        "season,date,regular,playoffs,away,home,score_away,score_home,moneyline_away,"
        "moneyline_home\n"
    )
    path = write(
        tmp_path,
        "nba.csv",
        head + "2008,2007-10-30,True,False,por,sa,97,106,900,-1400\n"
        "2025,2025-06-22,False,True,ind,okc,91,103,,\n"
        "2025,2025-13-01,True,False,ind,okc,91,103,,\n",
    )
    games = read_nba_odds(path, NBA)
    first = games.iloc[0]
    assert (first["home_team"], first["away_team"], first["home_score"]) == ("sa", "por", 106)
    assert (first["home_ml"], first["away_ml"]) == (-1400, 900)
    assert first["game_id"] == "NBA-20071030-sa-por-1"
    assert bool(games["playoff"].iloc[1]) and pd.isna(games["home_ml"].iloc[1])
    assert "date=2025-13-01 is not a date" in games["parse_error"].iloc[2]


def test_nba_bubble_games_are_neutral(tmp_path: Path) -> None:
    from gameline.tasks.config import DateRange

    league = NBA.model_copy(
        update={
            "neutral_periods": [
                DateRange(
                    start=pd.Timestamp("2020-07-30").date(), end=pd.Timestamp("2020-10-11").date()
                )
            ]
        }
    )
    head = (
        "season,date,regular,playoffs,away,home,score_away,score_home,"
        "moneyline_away,moneyline_home\n"
    )
    path = write(
        tmp_path,
        "nba.csv",
        head + "2020,2020-08-01,True,False,a,b,1,2,,\n2020,2020-03-01,True,False,a,b,1,2,,\n",
    )
    assert read_nba_odds(path, league)["neutral"].tolist() == [True, False]


def test_fivethirtyeight_nfl_adapter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nfl.csv",
        (
            "date,season,neutral,playoff,team1,team2,elo1_pre,elo2_pre,elo_prob1,elo_prob2,"
            "elo1_post,elo2_post,score1,score2\n"
            "1920/9/26,1920,0,,RII,STP,1503.9,1300,0.8246,0.1754,1516.1,1287.8,48,0\n"
            "2023/1/8,2022,1,w,PIT,CLE,1471.6,1480.7,0.5798,0.4202,,,,\n"
        ),
    )
    games = read_fivethirtyeight_nfl(path, NFL)
    assert games["game_id"].tolist() == ["NFL-19200926-RII-STP-1", "NFL-20230108-PIT-CLE-1"]
    assert games["start_time"].iloc[0] == pd.Timestamp("1920-09-26 17:00", tz="UTC")  # 13:00 EST
    assert games["ref_p_home"].iloc[0] == pytest.approx(0.8246)
    assert games["status"].tolist() == ["final", "scheduled"]
    assert games["neutral"].tolist() == [False, True]
    assert games["playoff"].tolist() == [False, True]


def test_a_file_in_its_own_layout_is_read_through_the_mapping(tmp_path: Path) -> None:
    """A hockey-like file: its own column names, US dates with a clock, F/S status codes and an
    N flag for a neutral site (issue 14)."""
    path = tmp_path / "hockey.csv"
    path.write_text(
        "Date,Yr,Visitor,Home,G_vis,G_home,St,Site\n"
        "10/12/2024 19:00,2025,bos,tor,2,3,F,\n"
        "10/13/2024 19:30,2025,tor,mtl,1,1,F,N\n"
        "10/20/2024 19:00,2025,mtl,bos,,,S,\n"
        "13/45/2024 19:00,2025,bos,mtl,,,S,\n"
    )
    layout = SourceConfig(
        kind="csv",
        path=path,
        columns={"start_time": "Date", "away_team": "Visitor", "home_team": "Home",
                 "away_score": "G_vis", "home_score": "G_home", "status": "St",
                 "neutral": "Site", "season": "Yr"},
        values={"status": {"F": "final", "S": "scheduled"}, "neutral": {"N": "true"}},
        date_format="%m/%d/%Y %H:%M",
    )  # fmt: skip
    league = LeagueConfig(name="NHL", timezone="America/Toronto", allow_ties=True)
    games = read_contract_file(path, league, layout)
    first = games.iloc[0]
    assert (first["home_team"], first["away_team"], first["home_score"]) == ("tor", "bos", 3)
    assert first["start_time"] == pd.Timestamp("2024-10-12T23:00:00Z")  # 19:00 in Toronto
    assert games["status"].tolist()[:3] == ["final", "final", "scheduled"]
    assert games["neutral"].tolist()[:3] == [False, True, False]
    assert games[PARSE_ERROR].iloc[3] is not pd.NA and "13/45/2024" in games[PARSE_ERROR].iloc[3]
    missing = SourceConfig(kind="csv", path=path, columns={"home_team": "HomeTeam"})
    with pytest.raises(ContractError, match=r"home_team \(as 'HomeTeam'\)"):
        read_contract_file(path, league, missing)
