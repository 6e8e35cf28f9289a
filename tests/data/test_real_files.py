"""The real NBA and NFL files (../shared/data): ingest counts, planted bad rows, leakage."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gameline.flows.ingest import ingest_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import load_games
from gameline.tasks.data.validate import validate_games
from gameline.tasks.features.team import team_features

pytestmark = pytest.mark.real_data
NBA_ROWS = 23_118


@pytest.fixture(scope="module")
def nba_games(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from gameline.tasks.config import load_config
    from tests.builders import CONFIGS, real_data_dir

    if not (real_data_dir() / "nba_games_2008_2025.csv").exists():
        pytest.skip(f"real game files not found in {real_data_dir()} (set GAMELINE_DATA_DIR)")
    config = load_config(
        CONFIGS / "nba.yaml", environ={}, overrides={"data_dir": str(real_data_dir())}
    )
    return load_games(config)


def test_nba_file_reads_every_row(nba_games: pd.DataFrame) -> None:
    assert len(nba_games) == NBA_ROWS
    assert nba_games["game_id"].is_unique
    assert nba_games["parse_error"].isna().all()
    assert (nba_games["status"] == "final").all()
    assert nba_games["neutral"].sum() > 0  # the 2020 bubble


def test_nba_file_rules(
    real_config: Callable[[str], GamelineConfig], nba_games: pd.DataFrame
) -> None:
    outcome = validate_games(nba_games, real_config("nba"), datetime.now(UTC))
    by_rule = outcome.rejected.set_index("rules")["game_id"].to_dict()
    # The file has one tied NBA final (impossible: held back) and one 8 moneyline (odds removed).
    assert by_rule == {
        "no tied final in NBA": "NBA-20121226-phx-ny-1",
        "moneyline is American odds with 100 <= |odds| <= 100000": "NBA-20130202-atl-chi-1",
    }
    assert len(outcome.valid) == NBA_ROWS - 1


def test_nfl_file_reads_and_validates(real_config: Callable[[str], GamelineConfig]) -> None:
    config = real_config("nfl")
    games = load_games(config)
    assert len(games) == 17_367
    assert (games["status"] == "scheduled").sum() == 92  # 2022 games after week 17
    outcome = validate_games(games, config, datetime.now(UTC))
    assert len(outcome.rejected) == 0
    assert games["ref_p_home"].notna().all()


def test_nba_features_leak_nothing(
    nba_games: pd.DataFrame, real_config: Callable[[str], GamelineConfig]
) -> None:
    config = real_config("nba")
    games = nba_games[nba_games["game_id"] != "NBA-20121226-phx-ny-1"].reset_index(drop=True)
    before = team_features(games, config.features, config.league)
    assert len(before) == 2 * len(games)
    target = games.index[games["game_id"] == "NBA-20160120-orl-phi-1"][0]
    changed = games.copy()
    changed.loc[target, ["home_score", "away_score"]] = [70.0, 140.0]
    after = team_features(changed, config.features, config.league)
    ended = games.loc[target, "start_time"] + pd.Timedelta(hours=config.league.game_duration_hours)
    early = before["event_timestamp"] < ended
    pd.testing.assert_frame_equal(before[early], after[early])
    assert not before[~early].equals(after[~early])


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_nba_ingest_replay_and_planted_bad_rows(
    real_config: Callable[[str], GamelineConfig], data_dir: Path, tmp_path: Path
) -> None:
    config = real_config("nba")
    first = ingest_flow(config).manifest
    assert (first.read, first.new, first.quarantined, first.repaired) == (
        NBA_ROWS,
        NBA_ROWS - 1,
        1,
        1,
    )
    again = ingest_flow(config)
    assert again.skipped and again.manifest.new == 0
    stored = read_store(state_paths(config).raw_games)

    planted = tmp_path / "nba_planted.csv"
    shutil.copy(data_dir / "nba_games_2008_2025.csv", planted)
    lines = planted.read_text().splitlines()
    good = lines[1].split(",")  # 2008,2007-10-30,...,por,sa,97,106,...

    def variant(**changes: str) -> str:
        cols = lines[0].split(",")
        row = dict(zip(cols, good, strict=True))
        row.update(changes)
        return ",".join(row[c] for c in cols)

    bad = {
        "game_id is unique (repeated row)": lines[500],
        "scores between 0 and 250": variant(date="2007-11-20", score_home="-4"),
        "home_team is a league team": variant(date="2007-11-21", home="zzz"),
        "home_team != away_team": variant(date="2007-11-22", away="sa"),
        "final game is not in the future": variant(season="2031", date="2031-01-05"),
    }
    # And a changed final score for a game already stored (line 2 rewritten in place).
    conflict = variant(score_away="98")
    planted.write_text("\n".join([lines[0], conflict, *lines[2:], *bad.values()]) + "\n")
    summary = ingest_flow(config, planted)
    m = summary.manifest
    assert (m.read, m.new, m.updated) == (NBA_ROWS + len(bad), 0, 0)
    assert m.quarantined == len(bad) + 2  # plus the conflict and the file's own tied game
    quarantine = pd.read_parquet(m.quarantine_file).set_index("source_line")
    assert quarantine.loc[2, "rules"] == "a stored final game may not change (away_score)"
    for offset, rule in enumerate(bad):
        line = len(lines) + 1 + offset
        assert rule in quarantine.loc[line, "rules"], (line, quarantine.loc[line, "rules"])
        assert quarantine.loc[line, "file"] == str(planted)
    # Nothing stored earlier was lost or changed.
    after = read_store(state_paths(config).raw_games)
    pd.testing.assert_frame_equal(
        after.drop(columns="manifest_id"), stored.drop(columns="manifest_id")
    )
