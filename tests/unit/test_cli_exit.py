"""The `gameline` process ends at once after its work (`exit_now`), having done what a normal
exit does: other threads finished, atexit handlers run, output flushed, the status kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from gameline.flows.cli_support import exit_now

atexit.register(lambda: sys.stdout.write("atexit ran;"))
worker = threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write("thread done;")))
worker.start()
pool = ThreadPoolExecutor(1)  # left running, as MLflow leaves its download pool
pool.submit(time.sleep, 0.1)
sys.stdout.write("buffered;")  # still in the buffer when exit_now is called
exit_now({code!r})
"""


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), ("bad: why", 1)])
def test_exit_now_finishes_what_a_normal_exit_does(code: object, status: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(code=code)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    assert done.stdout == "buffered;thread done;atexit ran;"
    assert done.stderr == ("bad: why\n" if isinstance(code, str) else "")


def test_the_console_script_is_main() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "gameline"]
    assert script.value == "gameline.flows.cli:main"
