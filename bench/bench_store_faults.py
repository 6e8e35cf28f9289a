"""Damaged stores and a lost orchestrator as a table: each fault applied to a copy of a served
league's state (the demo's config: a first `gameline run` trained, promoted and predicted), then
`gameline run` as a user types it: what Gameline did (its `error:` line or what it rebuilt), the
seconds, the exit code, whether the run completed, and whether anything stored before was lost
(the game store, manifests, the audit and alert logs, and the MLflow database where it was not
the damaged file).

    python bench/bench_store_faults.py
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import REPO, print_table

sys.path.insert(0, str(REPO))

# What a run may add to but never lose: each file's bytes before the fault must still be there.
PRIMARY = ["raw/games.parquet", "manifests", "audit", "alerts", "mlflow/mlflow.db"]


def cut_short(path: Path) -> None:
    """Keep the first third of a file, as a full disk or a killed copy leaves it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 3)


def digests(state: Path, skip: str | None) -> dict[str, str]:
    """SHA-256 of every primary file under `state` (but `skip`, the damaged one)."""
    out = {}
    for name in PRIMARY:
        for path in sorted(
            [state / name] if (state / name).is_file() else (state / name).rglob("*")
        ):
            relative = str(path.relative_to(state))
            if path.is_file() and relative != skip:
                out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def kept(before: dict[str, str], state: Path) -> str:
    """'kept' when every primary file is still there and each one that may only grow (a log,
    a manifest) still holds what it held; else what is missing or changed."""
    lost = []
    for relative in before:
        path = state / relative
        if not path.exists():
            lost.append(f"{relative} gone")
        elif relative.endswith((".jsonl", ".json")):
            changed = hashlib.sha256(path.read_bytes()).hexdigest() != before[relative]
            if changed and path.suffix == ".json":
                lost.append(f"{relative} changed")
    return "kept" if not lost else "; ".join(lost)


def said(stderr: str) -> str:
    """The command's `error:` line, else the stores it rebuilt, else 'completed'."""
    for line in stderr.splitlines():
        if line.startswith("error:"):
            return line[len("error: ") :][:160]
    rebuilt = [
        line.split("rebuilt a derived store: ", 1)[1].split(" /", 1)[0]
        for line in stderr.splitlines()
        if "rebuilt a derived store: " in line
    ]
    return f"rebuilt: {', '.join(rebuilt)}" if rebuilt else "completed"


def run(args: list[str], env: dict[str, str], cwd: Path, lose_server: Callable[[], None] | None):
    """`gameline run` on the config; `lose_server` is called once the training has begun."""
    from tests.servers import BIN

    log = cwd / "run.err"
    start = time.monotonic()
    with open(log, "w") as err:
        cli = subprocess.Popen(
            [str(BIN / "gameline"), *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
    if lose_server is not None:
        while "Beginning subflow run" not in log.read_text() and cli.poll() is None:
            time.sleep(0.1)
        lose_server()
        start = time.monotonic()  # timed from the loss
    cli.wait(timeout=600)
    return cli.returncode, time.monotonic() - start, log.read_text()


def main() -> None:
    import os

    from tests.servers import BIN, quiet_env, running_prefect_server

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        config = base / "league.yaml"
        config.write_text((REPO / "configs" / "default.yaml").read_text())
        env = quiet_env(GAMELINE_STATE_DIR=str(base / "state"))
        subprocess.run(
            [str(BIN / "gameline"), "run", "--config", str(config)], env=env, cwd=base,
            check=True, capture_output=True,
        )  # fmt: skip

        def fresh(name: str) -> tuple[Path, Path, dict[str, str]]:
            folder = Path(tmp) / name
            shutil.copytree(base, folder)
            state = folder / "state"
            return folder, state, quiet_env(GAMELINE_STATE_DIR=str(state))

        faults: dict[str, tuple[str | None, Callable[[Path], None]]] = {
            "Feast registry cut short": (None, lambda s: cut_short(s / "feast" / "registry.db")),
            "online store (SQLite) cut short": (
                None,
                lambda s: cut_short(s / "feast" / "online_store.db"),
            ),
            "MLflow database cut short": (
                "mlflow/mlflow.db",
                lambda s: cut_short(s / "mlflow" / "mlflow.db"),
            ),
            "predictions table cut short": (
                None,
                lambda s: cut_short(s / "predictions" / "predictions.parquet"),
            ),
        }
        for name, (damaged, damage) in faults.items():
            folder, state, run_env = fresh(name.split()[0].lower())
            before = digests(state, damaged)
            damage(state)
            code, seconds, stderr = run(
                ["run", "--config", str(folder / "league.yaml")], run_env, folder, None
            )
            rows.append(
                [
                    name,
                    said(stderr),
                    str(code),
                    f"{seconds:.1f}",
                    "yes" if code == 0 else "no",
                    kept(before, state),
                ]
            )

        # The Prefect server stopped while `gameline run --retrain` runs against it.
        folder, state, run_env = fresh("prefect")
        before = digests(state, None)
        home = {"PREFECT_HOME": str(folder / "prefect-home")}
        with running_prefect_server(quiet_env(**home), folder / "server.log") as api:
            port = api.rsplit(":", 1)[1].split("/")[0]

            def stop_server() -> None:
                from tests.integration.test_kill import children, cmdline

                server = next(p for p in children(os.getpid()) if port.encode() in cmdline(p))
                os.killpg(server, signal.SIGKILL)  # its own session: with its uvicorn

            code, seconds, stderr = run(
                ["run", "--retrain", "--config", str(folder / "league.yaml")],
                {**run_env, **home, "PREFECT_API_URL": api},
                folder,
                stop_server,
            )
        rows.append(
            [
                "Prefect server stopped mid-run (seconds from the stop)",
                said(stderr),
                str(code),
                f"{seconds:.1f}",
                "yes" if code == 0 else "no",
                kept(before, state),
            ]
        )
    print_table(
        "Damaged stores and a lost orchestrator (`gameline run` on a served league)",
        ["fault", "what Gameline did", "exit", "s", "run completed", "stored before"],
        rows,
    )


if __name__ == "__main__":
    main()
