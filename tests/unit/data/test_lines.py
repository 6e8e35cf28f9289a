"""Spreads and totals in the Game contract: every way a file writes a spread becomes the home
side's line, a file read the wrong way round is refused by name, bad lines cost only the line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, LeagueConfig, SourceConfig
from gameline.tasks.contracts import ContractError, conform
from gameline.tasks.data.ingest import read_store, upsert_games
from gameline.tasks.data.lines import home_spread, spread_check
from gameline.tasks.data.sources import read_contract_file, read_nba_odds
from gameline.tasks.data.validate import validate_games

NBA = LeagueConfig(name="NBA", timezone="America/New_York", default_start_local="19:00")


def test_each_convention_gives_the_home_sides_line() -> None:
    spread = pd.Series([5.5, 3.0, 0.0, 7.0], dtype="Float64")
    assert home_spread(spread, "home").tolist() == [5.5, 3.0, 0.0, 7.0]
    assert home_spread(spread, "away").tolist() == [-5.5, -3.0, 0.0, -7.0]
    by_word = home_spread(spread, "favourite", pd.Series(["home", "Away", None, None]))
    assert by_word.tolist()[:3] == [-5.5, 3.0, 0.0]
    assert pd.isna(by_word.iloc[3])  # no favourite named: no line, never a guessed sign
    home_ml = pd.Series([-200.0, 150.0, -110.0, None])
    away_ml = pd.Series([170.0, -170.0, -110.0, None])
    by_price = home_spread(spread, "favourite", home_ml=home_ml, away_ml=away_ml)
    assert by_price.tolist()[:3] == [-5.5, 3.0, 0.0]
    assert pd.isna(by_price.iloc[3])


def test_the_check_reads_favourites_against_results() -> None:
    rng = np.random.default_rng(1)
    expected = rng.normal(0, 6, 400)
    margin = pd.Series(np.round(expected + rng.normal(0, 12, 400)))
    line = pd.Series(-np.round(expected * 2) / 2)
    right = spread_check(line, margin, pd.Series(np.zeros(400)))
    assert right.games > 350 and 0.6 < right.favourite_won < 0.8 and not right.reversed
    assert spread_check(-line, margin, pd.Series(np.zeros(400))).reversed
    few = spread_check(-line[:10], margin[:10], pd.Series(np.zeros(10)))
    assert few.games == 10 and not few.reversed  # too few games to judge


def lined_file(tmp_path: Path, flip: bool) -> Path:
    """A contract file of 60 finished games whose favourites (by the line) mostly win."""
    rng = np.random.default_rng(2)
    rows = ["start_time,home_team,away_team,home_score,away_score,home_spread,total_line"]
    for day in range(60):
        edge = rng.normal(0, 6)
        margin = round(edge + rng.normal(0, 4)) or 1
        line = -round(edge * 2) / 2
        date = (pd.Timestamp("2025-01-01") + pd.Timedelta(days=day)).strftime("%Y-%m-%d")
        rows.append(f"{date},AAA,BBB,{100 + margin},100,{-line if flip else line},210.5")
    path = tmp_path / "lined.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_spread_that_contradicts_the_results_is_refused_by_name(tmp_path: Path) -> None:
    path = lined_file(tmp_path, flip=True)
    with pytest.raises(ContractError) as raised:
        read_contract_file(path, NBA)
    message = str(raised.value)
    assert message.startswith(f"{path}: home_spread read as the home side's line")
    assert "source.spread_convention: away" in message
    layout = SourceConfig(kind="csv", path=path, spread_convention="away")
    games = read_contract_file(path, NBA, layout)
    assert spread_check(games["home_spread"], games["home_score"], games["away_score"]).games > 50
    assert read_contract_file(lined_file(tmp_path, flip=False), NBA)["total_line"].eq(210.5).all()


def test_nba_file_spread_is_signed_by_the_favourite(tmp_path: Path) -> None:
    path = tmp_path / "nba.csv"
    path.write_text(
        "season,date,regular,playoffs,away,home,score_away,score_home,whos_favored,spread,"
        "total,moneyline_away,moneyline_home\n"
        "2008,2007-10-30,True,False,por,sa,97,106,home,13.0,189.5,900,-1400\n"
        "2008,2007-10-31,True,False,sa,por,97,106,away,2.5,200,-130,110\n"
        "2008,2007-11-01,True,False,sa,por,97,106,,,,,\n"
    )
    games = read_nba_odds(path, NBA)
    assert games["home_spread"].tolist()[:2] == [-13.0, 2.5]
    assert games["total_line"].tolist()[:2] == [189.5, 200.0]
    assert games[["home_spread", "total_line"]].iloc[2].isna().all()  # no line: none made up


@pytest.fixture
def config(sim_config: Callable[..., GamelineConfig]) -> GamelineConfig:
    return sim_config(league={"name": "SIM", "teams": ["A", "B", "C", "D"]})


def test_a_bad_line_costs_the_line_not_the_game_or_its_odds(config: GamelineConfig) -> None:
    raw = pd.DataFrame(
        {
            "season": [2025, 2025],
            "start_time": pd.to_datetime(["2025-01-05", "2025-01-06"], utc=True),
            "home_team": ["A", "C"],
            "away_team": ["B", "D"],
            "home_score": [100.0, 95],
            "away_score": [90.0, 97],
            "home_ml": [-150.0, 120],
            "away_ml": [130.0, -140],
            "home_spread": [-4.5, 95.0],
            "total_line": [-3.0, 201.5],
        }
    )
    outcome = validate_games(conform(raw, config.league, "test"), config, datetime.now(UTC))
    assert len(outcome.valid) == 2
    first, second = outcome.valid.iloc[0], outcome.valid.iloc[1]
    assert pd.isna(first["total_line"]) and first["home_spread"] == -4.5
    assert pd.isna(second["home_spread"]) and second["total_line"] == 201.5
    assert second["home_ml"] == 120  # the moneyline rule was not broken: the odds stay
    assert sorted(outcome.rejected["action"]) == ["odds removed", "odds removed"]
    assert any(r.startswith("spread is a line") for r in outcome.rejected["rules"])


def test_lines_added_to_a_stored_final_game_are_an_update(config: GamelineConfig) -> None:
    raw = pd.DataFrame(
        {
            "season": [2025],
            "start_time": pd.to_datetime(["2025-01-05"], utc=True),
            "home_team": ["T01"],
            "away_team": ["T02"],
            "home_score": [100.0],
            "away_score": [90.0],
        }
    )
    first = upsert_games(read_store(Path("/nonexistent")), conform(raw, config.league, "t"), "m1")
    lined = conform(raw.assign(home_spread=-3.5, total_line=201.0), config.league, "t")
    again = upsert_games(first.games, lined, "m2")
    assert (again.updated, len(again.conflicts)) == (1, 0)
    assert again.games["home_spread"].iloc[0] == -3.5
    moved = conform(raw.assign(home_spread=-5.5, total_line=201.0), config.league, "t")
    refused = upsert_games(again.games, moved, "m3")
    assert "(home_spread)" in refused.conflicts["rules"].iloc[0]  # a stored line never moves


def test_init_tells_how_a_file_writes_its_spread() -> None:
    from gameline.tasks.data.lines import guess_convention
    from gameline.tasks.onboard.columns import guess_columns

    mapping = guess_columns(["Date", "Home", "Away", "HomePts", "AwayPts", "Spread", "OU", "Fav"])
    assert (mapping["home_spread"], mapping["total_line"], mapping["favourite"]) == (
        "Spread",
        "OU",
        "Fav",
    )
    rng = np.random.default_rng(6)
    edge = rng.normal(0, 6, 300)
    home = pd.Series(np.round(100 + edge + rng.normal(0, 8, 300)))
    away = pd.Series(np.full(300, 100.0))
    line = pd.Series(-np.round(edge * 2) / 2, dtype="Float64")
    assert guess_convention(line, home, away, None, None, None)[0] == "home"
    convention, how = guess_convention(-line, home, away, None, None, None)
    assert convention == "away" and "turned round" in how
    unsigned = line.abs()
    favourite = pd.Series(np.where(line < 0, "home", "away"))
    convention, how = guess_convention(unsigned, home, away, favourite, None, None)
    assert convention == "favourite" and "a favourite column" in how
    assert "no game gets a line" in guess_convention(unsigned, home, away, None, None, None)[1]
