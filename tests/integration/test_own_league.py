"""Bring your own league (issue 14): `gameline init --from FILE` writes a config for a results
file in its own layout, and `gameline run` / `gameline ingest` work on it without edits. The
league files are made by the tests (tests/leagues.py), not stored."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from gameline.flows.pipeline import pipeline_flow
from gameline.tasks.config import GamelineConfig, SourceConfig, load_config, state_paths
from gameline.tasks.data.ingest import read_store, stage_input
from gameline.tasks.data.sources import load_games, read_contract_file
from tests import leagues
from tests.builders import ingested
from tests.servers import gameline as run_gameline

pytestmark = [pytest.mark.integration]


def gameline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = run_gameline(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def init(tmp_path: Path, kind: str, league: str) -> tuple[str, dict[str, Any], Path]:
    """Make the league file, run `gameline init` on it: (its stdout, the config, its path)."""
    file = tmp_path / f"{kind}.csv"
    leagues.LEAGUES[kind](file)
    out = tmp_path / f"{kind}.yaml"
    done = gameline("init", "--from", str(file), "--league", league, "--out", str(out),
                    cwd=tmp_path)  # fmt: skip
    return done.stdout, yaml.safe_load(out.read_text()), out


def loaded(path: Path) -> GamelineConfig:
    """The written config as the CLI run from its folder sees it (state folder under it)."""
    config = load_config(path)
    return load_config(path, overrides={"state_dir": str(path.parent / config.state_dir)})


@pytest.mark.usefixtures("prefect_harness")
def test_baseball_doubleheaders_both_lines_and_run(tmp_path: Path) -> None:
    made = leagues.baseball(tmp_path / "made.csv")
    text, config, path = init(tmp_path, "baseball", "MLB")
    assert f"{made['doubleheaders']} doubleheader games" in text
    assert f"the rules keep {made['games']} of {made['games']} rows" in text
    assert config["league"]["allow_doubleheaders"] is True
    assert config["league"]["allow_ties"] is False
    assert config["features"]["elo"]["mov_multiplier"] == "fivethirtyeight_nhl"  # runs
    assert config["source"]["columns"] == {
        "start_time": "game_date", "away_team": "v_team", "home_team": "h_team",
        "away_score": "v_score", "home_score": "h_score", "home_ml_open": "h_ml_open",
        "away_ml_open": "v_ml_open", "home_ml": "h_ml_close", "away_ml": "v_ml_close",
    }  # fmt: skip
    assert config["source"]["date_format"] == "%Y-%m-%d %H:%M"

    # `gameline run --config` is this flow (the CLI itself is tested in test_ingest_flow.py).
    run = asyncio.run(pipeline_flow(loaded(path))).model_dump(mode="json")
    manifest = run["ingest"]["manifest"]
    assert (manifest["read"], manifest["new"], manifest["quarantined"]) == (
        made["games"], made["games"], 0,
    )  # fmt: skip
    store = read_store(state_paths(loaded(path)).raw_games)
    assert len(store) == made["games"]
    assert store["game_id"].str.endswith("-2").sum() == made["doubleheaders"]
    # Seasons came from the dates (the file has no season column).
    assert sorted(store["season"].unique()) == [2022, 2023, 2024, 2025]
    assert run["gate"]["applied"] == "promoted"
    metrics = run["training"]["metrics"]
    assert metrics["both_lines_games"] > 1000
    assert metrics["blend_clv_bets"] > 0 and np.isfinite(metrics["blend_clv_mean"])
    # The simulated closing line is nearer the truth than the opening one.
    assert metrics["market_close_log_loss_both_lines"] < metrics["market_open_log_loss_both_lines"]

    # The same file again: its content was seen, nothing is read into the store.
    staged = stage_input(loaded(path))
    assert staged.earlier is not None and staged.earlier.new == made["games"]
    assert len(read_store(state_paths(loaded(path)).raw_games)) == made["games"]


def test_hockey_layout_ties_and_status_codes(tmp_path: Path) -> None:
    made = leagues.hockey(tmp_path / "made.csv")
    text, config, path = init(tmp_path, "hockey", "NHL")
    assert config["source"]["columns"] == {
        "start_time": "GameDate", "season": "Season", "home_team": "HomeTeam",
        "away_team": "AwayTeam", "home_score": "HomeGoals", "away_score": "AwayGoals",
        "status": "Status",
    }  # fmt: skip
    assert config["source"]["values"] == {"status": {"Final": "final", "Final/OT": "final"}}
    assert config["source"]["date_format"] == "%d.%m.%Y"
    league = config["league"]
    assert league["allow_ties"] is True and league["allow_doubleheaders"] is False
    assert league["season_label"] == "start"  # season 2021 runs October 2021 to April 2022
    assert config["features"]["elo"]["mov_multiplier"] == "fivethirtyeight_nhl"
    assert "sport hockey" in text

    store = ingested(loaded(path))  # what `gameline ingest` runs, without Prefect
    assert len(store) == made["games"]
    assert (store["home_score"] == store["away_score"]).sum() == made["ties"]
    assert set(store["season"]) == {2021, 2022, 2023, 2024}


def test_relocated_team_keeps_its_rating(tmp_path: Path) -> None:
    text, config, path = init(tmp_path, "relocation", "BBL")
    assert "SEA (last game 2023-04-06) and OKC (first game 2023-10-21)" in text
    assert config["source"]["values"] == {"home_team": {"SEA": "OKC"}, "away_team": {"SEA": "OKC"}}
    assert "SEA" not in config["league"]["teams"]
    assert "&id" not in path.read_text()  # plain YAML, no anchors
    assert config["league"]["season_label"] == "end"
    store = ingested(loaded(path))
    assert "SEA" not in set(store["home_team"]) | set(store["away_team"])
    paths = state_paths(loaded(path))
    states = pd.read_parquet(paths.team_features)
    okc = states[states["team"] == "OKC"].sort_values("event_timestamp")
    moved = okc[okc["event_timestamp"] > pd.Timestamp("2023-08-01", tz="UTC")]
    # The strongest team: its rating after the move starts from SEA's (about 1595 before the
    # first game), not from scratch (1500).
    assert moved["elo_pre"].iloc[0] > 1550


def test_contract_file_reads_as_before(tmp_path: Path) -> None:
    _, config, path = init(tmp_path, "contract", "BBL")
    assert config["source"]["columns"] == {}
    assert "values" not in config["source"] and "date_format" not in config["source"]
    config_ = loaded(path)
    plain = read_contract_file(tmp_path / "contract.csv", config_.league)
    configured = load_games(config_)
    pd.testing.assert_frame_equal(plain.drop(columns="source"), configured.drop(columns="source"))
    assert configured["source"].eq("csv:contract.csv").all()
    assert isinstance(config_.source, SourceConfig) and config_.source.kind == "csv"


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_that_says_only_who_won_is_a_league(tmp_path: Path) -> None:
    """No scores, only the winner (and moneylines): init guesses the winner column and leaves
    out what needs scores; `run` trains Elo from wins, promotes a champion, serves predictions."""
    made = leagues.winner_only(tmp_path / "made.csv")
    text, config, path = init(tmp_path, "winner_only", "WHL")
    assert "winner        <- Winner" in text and "no scores, only who won" in text
    assert config["train"]["line_targets"] is False
    assert not [f for f in config["train"]["features"] if "margin" in f or "points" in f]
    assert config["features"]["elo"]["mov_multiplier"] == "none"

    run = asyncio.run(pipeline_flow(loaded(path))).model_dump(mode="json")
    assert run["ingest"]["manifest"]["new"] == made["games"]
    store = read_store(state_paths(loaded(path)).raw_games)
    final = store[store["status"] == "final"]
    assert len(final) == made["final"] and final["home_score"].isna().all()
    assert final["home_won"].notna().all() and store["home_won"].isna().sum() == made["scheduled"]
    assert run["training"]["line_note"] == "off (train.line_targets: false)"
    assert run["training"]["metrics"]["blend_log_loss"] < run["training"]["metrics"]["elo_log_loss"]
    assert run["gate"]["applied"] == "promoted"
    assert run["predictions"]["games"] > 0
    served = pd.read_parquet(state_paths(loaded(path)).predictions)
    assert served["p_home"].between(0.02, 0.98).all()
    assert served["fair_spread"].isna().all()  # no margin model: no fair spread made up
