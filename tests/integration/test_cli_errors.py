"""Expected failures on the command line: one clear `error:` line naming the file (and row and
rule, or key), exit code 1, no traceback and no library warnings; `-v` shows the detail, and the
run in Prefect keeps it either way."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gameline.tasks.config import state_paths
from tests.builders import CONFIGS, ingested, small_sim_config, write_config
from tests.servers import gameline as run_gameline
from tests.servers import quiet_env


def gameline(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_gameline(*args, env=quiet_env(**env), cwd=cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.integration
def test_a_bad_file_is_one_error_line_and_verbose_shows_the_traceback(
    tmp_path: Path, harness_api: dict[str, str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("game_id,date\n1,2020-01-01\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"extends: {CONFIGS / 'default.yaml'}\nstate_dir: {tmp_path / 'state'}\n")
    quiet = gameline(
        "ingest", "--config", str(config), "--file", str(bad), cwd=tmp_path, **harness_api
    )
    assert quiet.returncode == 1
    assert error_lines(quiet.stderr) == [
        f"error: {bad}: missing required column(s) ['start_time', 'home_team', "
        "'away_team']; has ['game_id', 'date']"
    ]
    assert "Traceback" not in quiet.stderr and "Warning" not in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) <= 6  # the flow run's own lines
    loud = gameline(
        "-v", "ingest", "--config", str(config), "--file", str(bad), cwd=tmp_path, **harness_api
    )
    assert loud.returncode == 1 and "Traceback" in loud.stderr


@pytest.mark.parametrize("command", ["run", "status", "doctor", "train"])
def test_a_broken_config_is_one_line_naming_the_file_and_place(
    command: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nleague: [\n")
    done = gameline(command, "--config", str(broken), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {broken}: not valid YAML: line 3, column 1: expected the node content, "
        "but found '<stream end>'"
    )


@pytest.fixture(scope="module")
def ingested_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ingested small league's state folder, copied by each damaged-file case."""
    state = tmp_path_factory.mktemp("ingested") / "state"
    ingested(small_sim_config(state))
    return state


@pytest.mark.parametrize(
    "damaged",
    ["raw/games.parquet", "predictions/predictions.parquet", "feast/online_watermark.json",
     "registry/snapshot.json", "monitor/alerts.jsonl", "monitor/retrains.jsonl"],
)  # fmt: skip
def test_status_names_a_damaged_state_file(
    damaged: str, ingested_state: Path, tmp_path: Path
) -> None:
    shutil.copytree(ingested_state, tmp_path / "state")
    config = small_sim_config(tmp_path / "state")
    paths = state_paths(config)
    files = {
        "raw/games.parquet": paths.raw_games,
        "predictions/predictions.parquet": paths.predictions,
        "feast/online_watermark.json": paths.online_watermark,
        "registry/snapshot.json": paths.registry_snapshot,
        "monitor/alerts.jsonl": paths.alert_log,
        "monitor/retrains.jsonl": paths.retrain_log,
    }
    target = files[damaged]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\x00garbage{")
    config_file = str(write_config(config, tmp_path / "c.yaml"))
    if damaged == "raw/games.parquet":  # as a user meets it: a new process, nothing else printed
        done = gameline("status", "--config", config_file, cwd=tmp_path)
        code, stderr = done.returncode, done.stderr
    else:  # the other files in this process (a second each, not five)
        from typer.testing import CliRunner

        from gameline.flows.cli import app

        result = CliRunner().invoke(app, ["status", "--config", config_file])
        code, stderr = result.exit_code, result.stderr
    assert code == 1
    assert stderr.startswith(f"error: {target}: damaged, cannot be read ("), stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_file_in_neither_the_current_folder_nor_data_dir_is_named_at_once(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"extends: {CONFIGS / 'default.yaml'}\nstate_dir: {tmp_path / 'state'}\n"
        f"data_dir: {tmp_path / 'data'}\n"
    )
    done = gameline("ingest", "--config", str(config), "--file", "nope.csv", cwd=tmp_path)
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: nope.csv: file not found here ({tmp_path}) or in data_dir ({tmp_path / 'data'})"
    ]
    assert "temporary Prefect server" not in done.stderr  # refused before any server started


def test_init_refusals_are_one_line(tmp_path: Path) -> None:
    games = tmp_path / "games.csv"
    games.write_text("when,a,b\n2024-01-01,X,Y\n")
    taken = tmp_path / "taken.yaml"
    taken.write_text("name: mine\n")
    cases = [
        (["--league", "My League"], "error: --league 'My League': 1 to 16 letters"),
        (["--out", str(taken)], f"error: {taken} exists: give --force to overwrite it"),
        ([], "error: cannot tell which column is home_team / away_team / start_time"),
    ]
    for extra, message in cases:
        source = games if "--out" not in extra else _league_file(tmp_path)
        done = gameline("init", "--from", str(source), *extra, cwd=tmp_path)
        assert done.returncode == 1, done.stdout
        assert len(error_lines(done.stderr)) == 1 and error_lines(done.stderr)[0].startswith(
            message
        ), done.stderr
    assert taken.read_text() == "name: mine\n"  # not overwritten


def _league_file(folder: Path) -> Path:
    from tests import leagues

    leagues.hockey(folder / "hockey.csv")
    return folder / "hockey.csv"


def test_the_suites_cli_runs_refuse_tracebacks_and_library_warnings_on_failure() -> None:
    """Every failing `gameline` command the suite runs (tests.servers.gameline) is checked for
    these lines; the check itself must see them."""
    from tests.servers import noise

    assert noise("Traceback (most recent call last):\n  File ...")
    assert noise("/x/mlflow/types/utils.py:440: UserWarning: Hint: Inferred schema")
    assert noise("FutureWarning: a default will change")
    assert not noise("error: games.csv row 3: home_score is not a number\nwarning: 2 rows")
