"""Config files load into bounded models; mistakes are errors, not silent defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gameline.tasks.config import load_config
from tests.builders import CONFIGS


@pytest.mark.parametrize("name", ["default", "nba", "nfl"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(CONFIGS / f"{name}.yaml", environ={})
    assert config.name == name
    assert config.features.windows == sorted(config.features.windows)


def test_team_codes_stay_strings() -> None:
    teams = load_config(CONFIGS / "nba.yaml", environ={}).league.teams
    assert teams is not None and "no" in teams and len(teams) == 30


def test_env_overrides_state_and_data_dirs() -> None:
    env = {"GAMELINE_STATE_DIR": "/tmp/x", "GAMELINE_DATA_DIR": "/data"}
    config = load_config(CONFIGS / "nba.yaml", environ=env)
    assert config.state_dir == Path("/tmp/x")
    assert config.source_path() == Path("/data/nba_games_2008_2025.csv")


def test_env_gives_the_dask_scheduler_address() -> None:
    config = load_config(CONFIGS / "nba.yaml", environ={"GAMELINE_DASK_ADDRESS": "tcp://h:8786"})
    assert config.runner.dask_address == "tcp://h:8786"
    assert config.runner.kind == "threads"  # the address alone does not switch the runner


@pytest.mark.parametrize(
    "override",
    [
        {"features": {"elo": {"k": -1}}},
        {"validation": {"max_bad_share": 1.5}},
        {"league": {"season_window": {"start": "13-01"}}},
        {"features": {"windows": [5, 5]}},
        {"source": {"kind": "csv"}},
        {"unknown_key": 1},
    ],
)
def test_out_of_bounds_values_are_rejected(override: dict) -> None:
    with pytest.raises(ValueError, match=r"default\.yaml: ") as raised:
        load_config(CONFIGS / "default.yaml", overrides=override, environ={})
    assert isinstance(raised.value.__cause__, ValidationError)
    assert "\n" not in str(raised.value)  # one line: key path, what is wrong, the value


def test_config_errors_name_the_file_the_key_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nleague: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML: line 3, column 1"):
        load_config(broken, environ={})
    bounded = tmp_path / "bounded.yaml"
    bounded.write_text(f"extends: {CONFIGS / 'default.yaml'}\nvalidation: {{max_bad_share: 7}}\n")
    with pytest.raises(ValueError) as raised:
        load_config(bounded, environ={})
    assert str(raised.value) == (
        f"{bounded}: validation.max_bad_share: Input should be less than or equal to 1 (got 7)"
    )


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_production_differs_from_the_default_only_in_its_stores() -> None:
    default = load_config(CONFIGS / "default.yaml", environ={}).model_dump()
    production = load_config(CONFIGS / "production.yaml", environ={}).model_dump()
    differs = {key for key in default if default[key] != production[key]}
    assert differs == {"name", "state_dir", "feast", "mlflow", "records"}
    assert production["feast"]["project"] == "gameline_production"  # its own, by its name
    assert production["mlflow"]["final_family"] == default["mlflow"]["final_family"]
    assert production["feast"]["online_store"] == "redis"


def test_a_config_extends_a_base_and_a_cycle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text((CONFIGS / "default.yaml").read_text())
    (tmp_path / "mine.yaml").write_text("extends: base.yaml\nname: mine\ngate: {min_games: 50}\n")
    mine = load_config(tmp_path / "mine.yaml", environ={})
    assert mine.name == "mine" and mine.gate.min_games == 50 and mine.gate.window_games == 2000
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="makes a cycle"):
        load_config(tmp_path / "a.yaml", environ={})


def test_a_relative_source_path_cannot_leave_the_data_folder(tmp_path: Path) -> None:
    path = tmp_path / "escape.yaml"
    path.write_text(
        f"extends: {CONFIGS / 'nba.yaml'}\nsource: {{kind: csv, path: ../../etc/passwd}}\n"
    )
    with pytest.raises(ValueError, match=r"source.path '../../etc/passwd' leaves data_dir"):
        load_config(path, environ={})
    path.write_text(f"extends: {CONFIGS / 'nba.yaml'}\nsource: {{kind: csv, path: /etc/hosts}}\n")
    assert load_config(path, environ={}).source_path() == Path("/etc/hosts")  # explicit
    path.write_text(f"extends: {CONFIGS / 'nba.yaml'}\nsource: {{kind: csv, path: a/../b.csv}}\n")
    assert load_config(path, environ={}).source_path().name == "b.csv"  # stays inside
