"""A CLI command killed with SIGKILL in the middle of its run leaves nothing behind: the Prefect
server it started dies with it (Prefect's own temporary server used to outlive it, holding a
port and about 230 MB), and the next run completes on the same state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from tests.conftest import write_config
from tests.servers import BIN, quiet_env

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


def test_a_killed_command_leaves_no_server_and_the_next_run_completes(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    config = sim_config(train={"min_train_seasons": 1}, gate={"window_games": 60, "min_games": 30})
    path = write_config(config, tmp_path / "c.yaml")
    env = quiet_env(PREFECT_HOME=str(tmp_path / "prefect-home"))
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

    again = subprocess.run(
        [str(BIN / "gameline"), "run", "--config", str(path)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert state_paths(config).raw_games.exists()
