"""Benchmark: the monitor and the daily loop.

1. One monitor run (Evidently data and prediction drift, live performance, findings) on a
   simulated league with a 20k-game reference x every model input.
2. A daily `gameline run` on the embedded default with nothing to retrain on, next to the same
   run with `--retrain` (what every run did before monitoring), as a user runs them (each CLI
   call starts a temporary Prefect server), then against a running server; and that run's
   floor: a fresh process importing only what the run had imported.
3. The same daily run in one warm Python process: through the Prefect flows, and through the
   same task functions called bare; the ratio is Prefect's overhead.

    python bench/bench_monitor.py [--skip-cli]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from common import DATA_DIR, REPO, bench_config, ingest, print_table

AS_OF = "2026-11-23T00:00:00+00:00"
REPEATS = 5


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def monitor_case(folder: Path) -> list[list[str]]:
    """A 17-season league: the reference is every earlier season's game (phase band 1.5)."""
    from gameline.tasks.contracts import LABEL
    from gameline.tasks.features.context import game_context
    from gameline.tasks.features.store import TeamFeatureStore
    from gameline.tasks.model.inputs import selected_features
    from gameline.tasks.model.train import fit_models, predict_models
    from gameline.tasks.monitoring.monitor import Champion, monitor

    config = bench_config(
        "default",
        folder,
        DATA_DIR,
        source={"simulator": {"n_seasons": 17, "as_of": AS_OF}},
        monitor={"phase_band": 1.5, "window_days": 60},
    )
    ingest(config)
    store = TeamFeatureStore.from_config(config)
    store.apply()
    games = pd.read_parquet(folder / "raw" / "games.parquet")
    frame = store.training_set(games, game_context(games, config.features, config.league))
    played = frame[frame[LABEL].notna()]
    last = played["season"].max()
    train, serve = played[played["season"] < last], played[played["season"] == last]
    features = selected_features(config)
    family = f"p_{config.mlflow.final_family}"
    models = fit_models(train, features, config.train)
    p_train = predict_models(models, train, features)[family]
    p_serve = predict_models(models, serve, features)[family]
    champion = Champion(
        version="1",
        features=features,
        trained_until=train["event_timestamp"].max().to_pydatetime(),
        promised_log_loss=0.6,
        oof=pd.DataFrame({"game_id": train["game_id"], "p": p_train.to_numpy()}),
    )
    predictions = pd.DataFrame(
        {
            "game_id": serve["game_id"],
            "start_time": serve["event_timestamp"],
            "p_home": p_serve.to_numpy(),
            "model_version": "1",
            "served_by": "champion",
            "predicted_at": serve["event_timestamp"],
        }
    )
    now = serve["event_timestamp"].max().to_pydatetime() + timedelta(hours=3)
    seconds_import, _ = timed(lambda: __import__("evidently.presets"))

    def run() -> Any:
        return monitor(
            frame, games, predictions, champion, "bench", config.monitor,
            config.features.elo, now, folder / "reports",
        )  # fmt: skip

    seconds, result = timed(run)
    data = result.data_drift
    return [
        [
            "monitor run (data + prediction drift, live performance)",
            f"{seconds:.2f} s",
            f"{data.reference_rows:,} reference x {len(data.columns)} inputs; "
            f"{data.current_rows} current; {result.performance.games} finished games",
        ],
        ["  import evidently (once per process)", f"{seconds_import:.2f} s", ""],
    ]


def cli_case(folder: Path, api_url: str | None = None) -> list[list[str]]:
    """`gameline run` as a user runs it: a bootstrap run, a day with no trigger, a retrain;
    against the Prefect server at `api_url`, else a temporary one per call."""
    config = REPO / "configs" / "default.yaml"
    env = {**os.environ, "GAMELINE_STATE_DIR": str(folder / "state"), "GAMELINE_ALERT_URL": ""}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    where = "running Prefect server" if api_url else "temporary Prefect server"
    gameline = REPO / ".venv" / "bin" / "gameline"
    rows = []
    for label, extra in (
        ("first run (no champion: trains)", []),
        ("daily run, no trigger", []),
        ("daily run with --retrain (always retrain)", ["--retrain"]),
    ):
        seconds, done = timed(
            lambda extra=extra: subprocess.run(
                [str(gameline), "run", "--config", str(config), "--json", *extra],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
        )
        assert done.returncode == 0, done.stderr[-2000:]
        rows.append([f"gameline run: {label}", f"{seconds:.1f} s", where])
    return rows


def running_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server of its own (SQLite in `folder`), as production runs one."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(folder), "PREFECT_API_URL": url}
    prefect = REPO / ".venv" / "bin" / "prefect"
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise RuntimeError("the Prefect server did not start in 60 s")


# A `gameline run` that writes, as it exits, every module it had imported (its atexit
# handlers run: `exit_now` runs them).
RUN_LISTING_MODULES = """
import atexit, json, sys
listing = sys.argv[1]
atexit.register(lambda: json.dump(list(sys.modules), open(listing, "w")))
sys.argv = ["gameline", *sys.argv[2:]]
from gameline.flows.cli import main
main()
"""

# A fresh process importing those modules (Feast as Gameline imports it) and nothing else,
# then leaving as `gameline` does (without the interpreter's teardown).
IMPORT_ONLY = """
import importlib, json, os, sys
from gameline.tasks.features.store import import_feast
import_feast()
failed = 0
for name in json.load(open(sys.argv[1])):
    try:
        importlib.import_module(name)
    except Exception:  # a model's own code (loaded from its artifacts), __main__, ...
        failed += 1
print(failed, flush=True)
os._exit(0)
"""


def import_floor(env: dict[str, str]) -> list[str]:
    """The no-trigger run's floor: the wall time of a fresh process that only imports what
    that run had imported (Prefect, pandas, Feast, MLflow's stores, LightGBM and everything
    they import), against the run itself, median of three each."""
    python = str(REPO / ".venv" / "bin" / "python")
    config = str(REPO / "configs" / "default.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "modules.json"
        run_command = [python, "-c", RUN_LISTING_MODULES, str(listing), "run", "--config", config]
        import_command = [python, "-c", IMPORT_ONLY, str(listing)]
        runs, imports = [], []
        for _ in range(3):  # alternated
            for command, times in ((run_command, runs), (import_command, imports)):
                seconds, done = timed(
                    lambda command=command: subprocess.run(
                        command, capture_output=True, text=True, env=env, check=False
                    )
                )
                assert done.returncode == 0, done.stderr[-2000:]
                times.append(seconds)
        modules = len(json.loads(listing.read_text()))
    run, floor = statistics.median(runs), statistics.median(imports)
    return [
        "  of which importing what it uses (fresh process)",
        f"{floor:.1f} s",
        f"{modules:,} modules; {floor / run:.0%} of the run's {run:.1f} s (median of 3)",
    ]


def cli_with_server_case(folder: Path) -> list[list[str]]:
    """The daily runs against a running Prefect server (no temporary one per call), and what
    importing the libraries costs a no-trigger day."""
    server, url = running_server(folder / "prefect")
    try:
        rows = cli_case(folder, url)[1:]
        env = {
            **os.environ,
            "GAMELINE_STATE_DIR": str(folder / "state"),
            "GAMELINE_ALERT_URL": "",
            "PREFECT_API_URL": url,
        }
        return [rows[0], import_floor(env), *rows[1:]]
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and its uvicorn child


def bare_daily(config: Any, now: datetime) -> int:
    """The no-trigger daily run through the very functions its Prefect tasks wrap (`.fn`),
    stage by stage as `pipeline_flow` calls them, without Prefect (no task runs, artifacts or
    run logs)."""
    from gameline.flows import ingest, monitor, predict
    from gameline.flows.retrain import retrain_decision
    from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time
    from gameline.tasks.monitoring.notify import Notifier
    from gameline.tasks.records import MONITOR_RESULT, records_for
    from gameline.tasks.registry.mlflow_registry import Registry
    from gameline.tasks.serving.predictions import store_predictions

    ingest.heal_task.fn(config)
    staged = ingest.stage_task.fn(config, None)
    assert staged.earlier is not None  # a day with nothing new
    if config.features.sources:
        ingest.sources_task.fn(config, now, None)
    ingest.features_task.fn(config, reuse=True)
    store = TeamFeatureStore.from_config(config)
    ingest.apply_task.fn(store)
    if store.online_down() is None:
        end = latest_feature_time(config.state_dir / "features" / "team_states.parquet")
        ingest.materialize_task.fn(store, end + timedelta(seconds=1))
    ingest.store_summary(config)
    registry = Registry.from_config(config)
    champion = monitor.champion_task.fn(registry)
    result = monitor.measure.fn(config, champion, registry.model_name, now)
    changes, _ = monitor.keep_alerts.fn(config, result, Notifier(None), now)
    records_for(config).write_doc(MONITOR_RESULT, result.model_dump_json(indent=2) + "\n")
    active = {a.kind for a in [*changes.opened, *changes.continuing]}
    decision = retrain_decision.fn(config, registry, active, None, now)
    assert not decision.retrain
    served, challenger = predict.load_models.fn(registry)
    table, _ = predict.score_upcoming.fn(
        config, store, registry.model_name, now, served, challenger, False
    )
    if len(table):
        store_predictions(records_for(config), table)
    return len(table)


def in_process_case(folder: Path) -> list[list[str]]:
    """The no-trigger daily run in one warm process: the flows vs the bare task functions."""
    from gameline.flows.pipeline import pipeline_flow

    config = bench_config("default", folder / "state", DATA_DIR)
    now = datetime.now(UTC).replace(hour=0, minute=30, second=0, microsecond=0)
    # A bootstrap run (trains the champion, starts Prefect's server), then a warm-up.
    asyncio.run(pipeline_flow(config, now=now))
    asyncio.run(pipeline_flow(config, now=now))
    bare_daily(config, now)  # warm-up
    # Alternated, the median of each: one run of either swings by up to 50% on this machine.
    flow_times, bare_times = [], []
    for _ in range(REPEATS):
        seconds, summary = timed(lambda: asyncio.run(pipeline_flow(config, now=now)))
        assert not summary.retrain.retrain
        flow_times.append(seconds)
        seconds, games = timed(lambda: bare_daily(config, now))
        bare_times.append(seconds)
    flows, bare = statistics.median(flow_times), statistics.median(bare_times)
    spread = f"median of {REPEATS}, alternated; range {{:.2f}}-{{:.2f}} s"
    return [
        [
            f"daily run in-process, Prefect flows ({games} games predicted)",
            f"{flows:.2f} s",
            spread.format(min(flow_times), max(flow_times)),
        ],
        [
            "daily run in-process, bare task functions",
            f"{bare:.2f} s",
            spread.format(min(bare_times), max(bare_times)),
        ],
        ["Prefect's overhead (flows / bare)", f"{flows / bare:.2f}x", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cli", action="store_true", help="skip the `gameline run` calls")
    args = parser.parse_args()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += monitor_case(Path(tmp) / "monitor")
        if not args.skip_cli:
            rows += cli_case(Path(tmp) / "cli")
            rows += cli_with_server_case(Path(tmp) / "server")
        rows += in_process_case(Path(tmp) / "inproc")
    print_table("Monitor and daily run (2-core machine)", ["measure", "time", "detail"], rows)


if __name__ == "__main__":
    main()
