"""Property-based tests (hypothesis) of the file reader and the Game contract: whatever a file
holds, reading it either fails with one ContractError naming the file or gives every row its
source line and, for a row it cannot parse, the reason; ids are a pure function of the game."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameline.tasks.config import LeagueConfig
from gameline.tasks.contracts import (
    LABEL,
    PARSE_ERROR,
    SOURCE_LINE,
    ContractError,
    conform,
    home_win,
)
from gameline.tasks.data.sources import read_contract_file

LEAGUE = LeagueConfig(name="SIM")
COLUMNS = ["season", "start_time", "home_team", "away_team", "home_score", "away_score",
           "home_ml", "away_ml", "neutral"]  # fmt: skip
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Cells as users write them: numbers, dates in several forms, words, blanks, junk.
cells = st.one_of(
    st.integers(-1000, 100_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", "NA", "null", "true", "no", "A", "B", "12/25/2024", "-150"]),
    st.text(max_size=12),
)


def write_csv(folder: Path, rows: list[list[str]], header: list[str]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path = folder / "games.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@SETTINGS
@given(st.lists(st.lists(cells, min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=20))
def test_any_cells_are_read_or_refused_with_the_file_named(rows: list[list[str]]) -> None:
    with TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp), rows, COLUMNS)
        try:
            games = read_contract_file(path, LEAGUE)
        except ContractError as exc:
            assert str(exc).startswith(str(path))
            return
        assert len(games) == len(rows)
        assert games[SOURCE_LINE].tolist() == list(range(2, len(rows) + 2))
        clean = games[games[PARSE_ERROR].isna()]
        assert clean["start_time"].notna().all()  # a row without a parse error has its time
        assert games.loc[games[PARSE_ERROR].notna(), PARSE_ERROR].str.len().gt(0).all()


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_the_file_named(data: bytes) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "games.csv"
        path.write_bytes(b"season,start_time,home_team,away_team\n" + data)
        try:
            read_contract_file(path, LEAGUE)
        except ContractError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)


teams = st.sampled_from(["A", "B", "C", "D", "E"])
games_strategy = st.lists(
    st.tuples(
        st.dates(min_value=pd.Timestamp("2020-01-01").date(),
                 max_value=pd.Timestamp("2030-12-31").date()),
        teams, teams, st.integers(0, 200), st.integers(0, 200),
    ).filter(lambda g: g[1] != g[2]),
    min_size=1, max_size=30,
)  # fmt: skip


def frame_of(games: list[tuple]) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(
        {
            "season": [d.year for d, *_ in games],
            "start_time": pd.to_datetime([f"{d.isoformat()}T23:00:00Z" for d, *_ in games]),
            "home_team": [g[1] for g in games],
            "away_team": [g[2] for g in games],
            "home_score": pd.array([g[3] for g in games], dtype="Float64"),
            "away_score": pd.array([g[4] for g in games], dtype="Float64"),
        }
    )


@SETTINGS
@given(games_strategy, st.randoms())
def test_game_ids_depend_on_the_game_not_on_the_file_order(games: list[tuple], order) -> None:  # type: ignore[no-untyped-def,type-arg]
    frame = frame_of(games)
    ids = conform(frame, LEAGUE, "test")["game_id"]
    shuffled = list(frame.index)
    order.shuffle(shuffled)
    again = conform(frame.loc[shuffled], LEAGUE, "test")["game_id"]
    assert ids.loc[shuffled].tolist() == again.tolist()
    assert ids.notna().all() and ids.str.startswith("SIM-").all()


@SETTINGS
@given(games_strategy)
def test_the_label_follows_the_scores(games: list[tuple]) -> None:  # type: ignore[type-arg]
    frame = conform(frame_of(games), LEAGUE, "test")
    label = pd.Series(home_win(frame["home_score"], frame["away_score"]), name=LABEL)
    home, away = frame["home_score"].astype(float), frame["away_score"].astype(float)
    assert ((label == 1.0) == (home > away)).all() and ((label == 0.0) == (home < away)).all()
    assert np.isnan(label[home == away]).all()  # a tie is no label
    assert (frame["status"] == "final").all()
