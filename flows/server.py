"""The Prefect server a CLI command uses when none is configured. Prefect's own temporary server
outlives a command that is killed (about 230 MB, holding a port, until the machine restarts), so
the CLI starts `prefect server start` itself, as a child that the kernel kills when the command
dies however it dies (Linux's parent-death signal), and stops it when the command ends."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gameline.flows.quiet import QUIET_ENV
from gameline.tasks.backends import BackendUnavailable

STARTUP_S = 60.0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_temporary_server() -> TemporaryServer:
    """Start a Prefect server for this process only, without waiting for it: its API URL is set
    as PREFECT_API_URL for this process at once (before Prefect is imported), so the command
    imports its flows (3-4 s) while the server starts, and waits for it only when it needs it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    prefect = Path(sys.executable).parent / "prefect"
    env = {**os.environ, **QUIET_ENV, "PREFECT_UI_ENABLED": "false"}
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    atexit.register(_stop, proc)
    os.environ["PREFECT_API_URL"] = url
    return TemporaryServer(url, proc, time.monotonic() + STARTUP_S)


class TemporaryServer:
    """A temporary Prefect server that is starting; `wait()` returns once it answers."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
        self.url, self.proc, self.deadline = url, proc, deadline
        self.ready = False

    def wait(self) -> None:
        """Block until the server answers its health check (BackendUnavailable if it exits
        first or does not answer within STARTUP_S of its start)."""
        while not self.ready and time.monotonic() < self.deadline:
            if self.proc.poll() is not None:
                raise BackendUnavailable(
                    f"the temporary Prefect server exited with code {self.proc.returncode}"
                    " (run `prefect server start` to see why)"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    self.ready = answer.status == 200
            except OSError:
                time.sleep(0.1)
        if not self.ready:
            _stop(self.proc)
            raise BackendUnavailable(
                f"the temporary Prefect server did not answer within {STARTUP_S:g} s"
            )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def ensure_prefect_api() -> TemporaryServer | None:
    """The configured Prefect server (PREFECT_API_URL, or the active profile) answers
    (BackendUnavailable if not); with none, start a temporary one for this command and return
    it (still starting: `wait()` before the first flow). Nothing when Prefect is already
    imported (a test harness or a library caller has set up its own API)."""
    if "prefect" in sys.modules:
        return None
    from gameline.tasks.backends import http_get, prefect_api_url

    url = prefect_api_url()
    if url:  # a configured server that is down: one line in seconds (Prefect: a traceback)
        http_get(f"{url.rstrip('/')}/health", "the Prefect API")
        return None
    return start_temporary_server()
