"""A CLI command killed with SIGKILL in the middle of its run leaves nothing behind: the Prefect
server it started dies with it (Prefect's own temporary server used to outlive it, holding a
port and about 230 MB), and the next command completes on the same state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.records import records_for
from tests.builders import fatigue_league, ingested, write_config
from tests.servers import BIN, gameline, prefect_home, quiet_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow(seconds=20)  # about this long: scheduled first
def test_a_killed_command_leaves_no_server_and_the_next_one_completes(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path, prefect_db: Path
) -> None:
    config = sim_config(train={"min_train_seasons": 1}, gate={"window_games": 60, "min_games": 30})
    path = write_config(config, tmp_path / "c.yaml")
    env = quiet_env(PREFECT_HOME=str(prefect_home(tmp_path / "prefect-home", prefect_db)))
    log = tmp_path / "killed.err"
    with open(log, "w") as err:
        cli = subprocess.Popen(
            [str(BIN / "gameline"), "run", "--config", str(path)], env=env, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    deadline = time.monotonic() + 90
    while "Beginning flow run" not in log.read_text():
        assert cli.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    port = int(
        re.search(r"temporary Prefect server at http://127\.0\.0\.1:(\d+)", log.read_text())[1]
    )
    servers = [pid for pid in children(cli.pid) if b"server" in cmdline(pid)]
    assert len(servers) == 1, "the command's server is its child"
    time.sleep(1.0)  # into the ingest
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait(timeout=10)
    deadline = time.monotonic() + 10
    while (alive(servers[0]) or listening(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(servers[0]), "the server outlived the killed command"
    assert not listening(port), "its port is still held"

    # The next command starts its own server on the same Prefect database and redoes the stage
    # the kill cut short (the stages after it are the subject of the kill tests below).
    again = gameline("ingest", "--config", str(path), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "temporary Prefect server" in again.stderr
    assert state_paths(config).raw_games.exists() and state_paths(config).team_features.exists()


def run_until_killed(script: str, config: Path) -> None:
    """Run a script on a config file in a new Python process; it must end by SIGKILL."""
    killed = subprocess.run(
        [sys.executable, "-c", script, str(config)], env=quiet_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]


KILLED_AT_TAGGING = """
import os, signal, sys
from pathlib import Path
import pandas as pd
from gameline.flows.train import log_and_register
from gameline.tasks.model.dataset import build_training_set
from gameline.tasks.config import load_config
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.inputs import selected_features
from gameline.tasks.model.train import walk_forward
from gameline.tasks.registry.mlflow_registry import Registry

config = load_config(Path(sys.argv[1]))
path, tags = build_training_set(config)
frame = pd.read_parquet(path)
oof = walk_forward(frame, selected_features(config), config.train)
# SIGKILL just after the registration, inside the run, before the version gets its recipe tags.
register = Registry.log_pyfunc
def register_then_die(self, *args, **kwargs):
    register(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
Registry.log_pyfunc = register_then_die
log_and_register.fn(Registry.from_config(config), config, path, oof, tags)
"""


@pytest.mark.usefixtures("prefect_harness")
def test_a_training_killed_after_registration_is_tidied_by_the_next(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """SIGKILL between registering the version and tagging it: the version is READY with no
    recipe and its run RUNNING. The next training marks the run FAILED (its process is gone)
    and the version incomplete, registers a complete one, and nothing serves the cut one."""
    from gameline.flows.train import train_flow
    from gameline.tasks.registry.aliases import CHALLENGER
    from gameline.tasks.registry.mlflow_registry import Registry
    from gameline.tasks.registry.tracking import INCOMPLETE

    config = sim_config(train={"min_train_seasons": 1})
    ingested(config)
    path = write_config(config, tmp_path / "c.yaml")
    run_until_killed(KILLED_AT_TAGGING, path)
    registry = Registry.from_config(config)
    [(cut, tags, aliases)] = registry.versions()
    assert "train_config" not in tags and not aliases  # READY, no recipe, no alias
    running = registry.search_runs()
    orphan = running[running["status"] == "RUNNING"]["run_id"].tolist()
    assert orphan  # the killed run and its open nested runs

    record = train_flow(config)
    runs = registry.search_runs().set_index("run_id")
    assert set(runs.loc[orphan, "status"]) == {"FAILED"}
    assert runs.loc[orphan, "tags.gameline.orphaned"].str.startswith("process ").all()
    assert registry.version_tags(cut)[INCOMPLETE].startswith("registration cut short")
    assert registry.alias_version(CHALLENGER) == record.model_version != cut
    assert "train_config" in registry.version_tags(record.model_version)
    assert runs.loc[record.run_id, "status"] == "FINISHED"


KILLED_BETWEEN_MOVES = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from gameline.flows.gate import evaluate_versions
from gameline.tasks.config import load_config
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import CHAMPION, AliasBook, apply_decision
from gameline.tasks.registry.gate import decide
from gameline.tasks.registry.mlflow_registry import Registry

config = load_config(Path(sys.argv[1]))
registry = Registry.from_config(config)
decision = decide(evaluate_versions.fn(registry, config, None), config.gate, datetime.now(UTC))
assert decision.promote, decision.reason
move = Registry.set_alias
def move_then_die(self, alias, version):
    move(self, alias, version)
    if alias == CHAMPION:  # SIGKILL after the champion move, before the challenger's removal
        os.kill(os.getpid(), signal.SIGKILL)
Registry.set_alias = move_then_die
book = AliasBook(registry, records_for(config), None)
apply_decision(book, decision, datetime.now(UTC))
"""


@pytest.mark.usefixtures("prefect_harness")
def test_a_gate_killed_between_alias_moves_is_finished_by_the_next(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """SIGKILL after `champion` moved to the challenger but before `challenger` was removed:
    the next gate finishes the move (one champion, no challenger on it, the move audited)."""
    from gameline.flows.gate import gate_flow
    from gameline.flows.train import train_flow
    from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, read_audit_log
    from gameline.tasks.registry.mlflow_registry import Registry

    config = fatigue_league(sim_config)
    record = train_flow(config)
    path = write_config(config, tmp_path / "c.yaml")
    run_until_killed(KILLED_BETWEEN_MOVES, path)
    registry = Registry.from_config(config)
    v1 = record.model_version
    assert registry.alias_version(CHAMPION) == registry.alias_version(CHALLENGER) == v1
    outcome = gate_flow(config)
    assert registry.alias_version(CHAMPION) == v1 and registry.alias_version(CHALLENGER) is None
    assert outcome.champion == v1
    moves = [(m.alias, m.from_version, m.to_version) for m in read_audit_log(records_for(config))]
    assert moves[-1] == (CHALLENGER, v1, None)


KILLED_BEFORE_MANIFEST = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
import gameline.tasks.data.ingest as ingest
from gameline.tasks.config import load_config
from gameline.tasks.data.validate import check_input

config = load_config(Path(sys.argv[1]))
write = ingest.write_json
def write_then_die(payload, path):
    if path.parent.name == "manifests":  # SIGKILL after the game store, before the manifest
        os.kill(os.getpid(), signal.SIGKILL)
    return write(payload, path)
ingest.write_json = write_then_die
now = datetime.now(UTC)
staged = ingest.stage_input(config)
ingest.store_input(config, staged, check_input(config, staged.path, staged.label, now), now)
"""


def test_an_ingest_killed_before_its_manifest_is_completed_by_the_next(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """SIGKILL after the game store was written and before its manifest: the store is whole
    (atomic rename), and the same input again stores nothing twice and writes the manifest."""
    from gameline.tasks.data.ingest import list_manifests, read_store

    config = sim_config()
    path = write_config(config, tmp_path / "c.yaml")
    run_until_killed(KILLED_BEFORE_MANIFEST, path)
    paths = state_paths(config)
    stored = read_store(paths.raw_games)  # whole, readable
    assert len(stored) and not list_manifests(paths.manifests)
    assert not list(paths.root.rglob("*.tmp"))
    games = ingested(config)  # the same input again
    assert len(games) == len(stored) and games["game_id"].is_unique
    [manifest] = list_manifests(paths.manifests)
    assert manifest.new == 0 and manifest.duplicate == len(stored)


def test_a_prefect_server_lost_mid_run_ends_the_command_with_one_line(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path, prefect_db: Path
) -> None:
    """The Prefect API stops (a server restart, an upgrade) while `gameline train` runs against
    it: the command ends within seconds with one `error:` line (it used to wait out Prefect's
    client retries for minutes, then print tracebacks); the next one, with the server back,
    completes on the same state."""
    from tests.servers import noise, running_prefect_server

    config = sim_config(train={"min_train_seasons": 1})
    ingested(config)
    path = write_config(config, tmp_path / "c.yaml")
    home = {"PREFECT_HOME": str(prefect_home(tmp_path / "prefect-home", prefect_db))}
    with running_prefect_server(quiet_env(**home), tmp_path / "server.log") as api:
        env = quiet_env(**home, PREFECT_API_URL=api)
        log = tmp_path / "train.err"
        with open(log, "w") as err:
            cli = subprocess.Popen(
                [str(BIN / "gameline"), "train", "--config", str(path)], env=env,
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while "Beginning subflow run" not in log.read_text():
            assert cli.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = api.rsplit(":", 1)[1].split("/")[0].encode()
        # This test's server only (a session's harness server is a child too), in the session
        # it was started in: its whole group, so its uvicorn dies with it.
        server = next(p for p in children(os.getpid()) if port in cmdline(p))
        assert os.getpgid(server) == server
        os.killpg(server, signal.SIGKILL)
        lost_at = time.monotonic()
        cli.wait(timeout=120)
        took = time.monotonic() - lost_at
    stderr = log.read_text()
    assert cli.returncode == 1, stderr[-3000:]
    assert took < 20, f"the command took {took:.0f} s to end after its API was lost"
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "stopped answering during the run" in errors[0], stderr[-3000:]
    assert "stages finished: none." in errors[0]  # cut inside the training, its first stage
    assert not noise(stderr), stderr[-3000:]

    with running_prefect_server(quiet_env(**home), tmp_path / "server2.log") as api:
        again = gameline("train", "--config", str(path), env=quiet_env(**home, PREFECT_API_URL=api))
    assert again.returncode == 0, again.stderr[-3000:]
