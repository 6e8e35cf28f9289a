"""The ingest flow and the CLI, run for real under a temporary Prefect API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gameline.flows.cli import app
from gameline.flows.ingest import ingest_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import list_manifests, read_store
from gameline.tasks.data.validate import ValidationFailed
from tests.builders import fatigue_league, write_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_ingest_twice_is_a_no_op(sim_config: Callable[..., GamelineConfig]) -> None:
    config = sim_config()
    first = ingest_flow(config)
    assert not first.skipped
    assert first.manifest.new == first.manifest.read > 0
    assert first.features is not None and first.features.rows == 2 * first.manifest.read
    assert first.feast is not None and first.feast.apply.objects[-1] == "game_features_v2"
    assert first.feast.materialize.watermark_before is None
    stored = read_store(state_paths(config).raw_games)
    second = ingest_flow(config)
    assert second.skipped and second.manifest.new == 0 and second.manifest.updated == 0
    pd.testing.assert_frame_equal(read_store(state_paths(config).raw_games), stored)
    assert len(list_manifests(state_paths(config).manifests)) == 1


def test_next_day_turns_scheduled_games_final(sim_config: Callable[..., GamelineConfig]) -> None:
    # Both days lie in the past: a final game dated after the real 'now' would be quarantined.
    day_one = sim_config(
        source={"simulator": {"upcoming_days": 7, "as_of": "2026-11-16T00:00:00+00:00"}}
    )
    ingest_flow(day_one)
    day_two = sim_config(
        source={"simulator": {"upcoming_days": 7, "as_of": "2026-11-20T00:00:00+00:00"}}
    )
    summary = ingest_flow(day_two)
    m = summary.manifest
    assert m.updated > 0 and m.new > 0 and m.quarantined == 0
    assert m.duplicate + m.updated + m.new == m.read
    games = read_store(state_paths(day_two).raw_games)
    assert games["game_id"].is_unique
    assert (games["status"] == "final").sum() > 0


def test_too_many_bad_rows_fail_and_store_nothing(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    config = sim_config()
    ingest_flow(config)
    raw = state_paths(config).raw_games
    before = raw.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "season,start_time,home_team,away_team,home_score,away_score\n"
        "2027,2026-11-01,T01,T01,100,90\n2027,2026-11-02,T01,T02,-5,90\n"
        "2027,2026-11-03,T03,T04,101,90\n"
    )
    with pytest.raises(ValidationFailed, match=r"bad\.csv: 2 of 3 rows"):
        ingest_flow(config, bad)
    assert raw.read_bytes() == before
    assert len(list_manifests(state_paths(config).manifests)) == 1


@pytest.mark.slow(seconds=20)  # about this long: scheduled first
def test_cli_run_prints_json(sim_config: Callable[..., GamelineConfig], tmp_path: Path) -> None:
    """`gameline run`: ingest -> features -> Feast -> train -> register -> gate -> predict."""
    path = write_config(fatigue_league(sim_config, ingest=False, full=True), tmp_path / "sim.yaml")
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    ingest = summary["ingest"]
    assert ingest["manifest"]["new"] == ingest["manifest"]["read"] > 0
    assert ingest["features"]["rows"] > 0 and ingest["feast"]["materialize"]["end"]
    assert summary["training"]["model_version"] == "1" and summary["training"]["folds"] == 1
    assert summary["gate"]["applied"] == "promoted" and summary["gate"]["champion"] == "1"
    predictions = summary["predictions"]
    assert predictions["champion_version"] == "1" and predictions["games"] > 0
    assert predictions["challenger_version"] is None  # promoted: no challenger left
    assert summary["retrain"]["trigger"] == "no_champion"
    again = CliRunner().invoke(app, ["run", "--config", str(path)])  # nothing to retrain on
    assert again.exit_code == 0, again.output
    assert "no retrain: no trigger" in again.stdout and "Gate:" not in again.stdout
    assert "Monitor: gameline-default champion v1" in again.stdout
    printed = CliRunner().invoke(app, ["run", "--config", str(path), "--retrain"])
    assert printed.exit_code == 0, printed.output
    assert "retrain (manual)" in printed.stdout and "Gate: v2 vs champion 1" in printed.stdout
    assert "upcoming games" in printed.stdout


def test_cli_ingest_bad_file_exits_with_a_clear_message(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    path = write_config(sim_config(), tmp_path / "sim.yaml")
    missing = tmp_path / "games.csv"
    missing.write_text("season,home_team\n2025,A\n")
    result = CliRunner().invoke(app, ["ingest", "--config", str(path), "--file", str(missing)])
    assert result.exit_code == 1
    assert "games.csv: missing required column(s)" in result.stderr


def test_cli_features_materializes_again(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    config = sim_config()
    ingest_flow(config)
    # Feature files from an older Gameline, without a column the definitions now list.
    features_path = state_paths(config).team_features
    pd.read_parquet(features_path).drop(columns="league_home_margin").to_parquet(features_path)
    states_path = state_paths(config).team_states
    pd.read_parquet(states_path).drop(columns="elo_post").to_parquet(states_path)
    path = write_config(config, tmp_path / "sim.yaml")
    result = CliRunner().invoke(app, ["features", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["materialize"]["watermark_before"] is not None
    assert "league_home_margin" in pd.read_parquet(features_path).columns
    assert "elo_post" in pd.read_parquet(states_path).columns
    assert summary["apply"]["objects"] == [
        "team",
        "team_states_source",
        "team_state",
        "game_features_v2",
    ]


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = (
        "run",
        "ingest",
        "features",
        "train",
        "gate",
        "rollback",
        "predict",
        "status",
        "monitor",
    )
    assert all(cmd in result.stdout for cmd in commands)


def test_retries_only_for_failures_a_second_try_can_mend() -> None:
    from prefect.states import Failed

    from gameline.flows.common import transient
    from gameline.tasks.features.store import FeatureStoreError
    from gameline.tasks.registry.mlflow_registry import RegistryError

    for error in (FeatureStoreError("unknown team"), RegistryError("no version 9"), ValueError()):
        assert not transient(None, None, Failed(data=error))
    assert transient(None, None, Failed(data=ConnectionError("redis went away")))
    assert transient(None, None, Failed(data=TimeoutError()))
