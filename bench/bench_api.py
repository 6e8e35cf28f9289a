"""Benchmark: `gameline api` on this machine (goal: `POST /v1/predict` p99 <= 10 ms and >= 500
requests/s). For each online store (SQLite; Redis at 127.0.0.1:6379 unless --no-redis), the
default simulated league is run once (`gameline run`: ingest, features, training, gate, batch
predict) in a scratch state folder, then `gameline api` serves it on a free port and an httpx
client on the same machine measures:

- `POST /v1/predict` of a stored upcoming game, one client (p50, p99) and `--clients` clients
  at once (requests per second), with the API's answer cache (`api.cache_seconds`, 60) and
  without it (`api.cache_seconds: 0`: every request reads the online store and runs the
  models);
- `POST /v1/predict` of a game the schedule does not hold (its context is built on request);
- `GET /v1/predictions` for a whole season (the bench writes a season of served predictions,
  one per final game of a whole season, in the predictions table's own columns), and the
  API process's resident memory.

    python bench/bench_api.py [--calls 2000] [--clients 4] [--no-redis]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from common import REPO, percentiles_ms, print_table

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_without_prefect() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GAMELINE_"))}
    return {**env, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def league(folder: Path, redis: bool) -> Path:
    """The default config in `folder`, its pipeline run once; returns the config file."""
    import yaml

    from gameline.tasks.config import load_config

    overrides: dict[str, Any] = {"state_dir": str(folder / "state")}
    if redis:
        overrides["feast"] = {
            "online_store": "redis",
            "redis_connection": "127.0.0.1:6379",
            "project": f"gl_bench_{uuid.uuid4().hex[:8]}",
        }
    config = load_config(REPO / "configs" / "default.yaml", overrides=overrides, environ={})
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    done = subprocess.run(
        [str(BIN / "gameline"), "run", "--config", str(path)],
        cwd=REPO, env=env_without_prefect(), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"gameline run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return path


@contextmanager
def api(config_file: Path) -> Iterator[tuple[httpx.Client, int]]:
    """`gameline api` on a free port; (a client, the server's pid)."""
    port = free_port()
    command = [str(BIN / "gameline"), "api", "--config", str(config_file), "--port", str(port)]
    with open(config_file.parent / "api.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env_without_prefect(), stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit((config_file.parent / "api.log").read_text()[-3000:])
                time.sleep(0.2)
            yield client, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def throughput(base_url: str, body: dict[str, Any], clients: int, seconds: float) -> float:
    """Requests per second answered 200 by `clients` concurrent clients."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def load(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as mine:
            while time.monotonic() < stop:
                if mine.post("/v1/predict", json=body).status_code == 200:
                    counts[i] += 1

    threads = [threading.Thread(target=load, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def with_cache(config_file: Path, seconds: float) -> Path:
    import yaml

    values = yaml.safe_load(config_file.read_text())
    values["api"] = {**values.get("api", {}), "cache_seconds": seconds}
    path = config_file.with_name(f"config-cache-{seconds:g}.yaml")
    path.write_text(yaml.safe_dump(values))
    return path


def a_season_served(config_file: Path) -> int:
    """Served predictions for every final game of a whole season (the table's columns, as
    the batch predict stage writes them), added to the predictions table; how many."""
    import numpy as np
    import pandas as pd

    from gameline.tasks.config import load_config, state_paths
    from gameline.tasks.data.ingest import read_store
    from gameline.tasks.records import FileRecords
    from gameline.tasks.serving.predictions import store_predictions

    paths = state_paths(load_config(config_file))
    served = pd.read_parquet(paths.predictions)
    games = read_store(paths.raw_games)
    finals = games[games["status"] == "final"]
    whole = finals["season"].value_counts().idxmax()  # the last complete season's size
    finals = finals[finals["season"] == whole]
    rows = served.iloc[np.zeros(len(finals), dtype=int)].reset_index(drop=True)
    rows["game_id"] = finals["game_id"].astype(str).to_numpy()
    rows["home_team"] = finals["home_team"].to_numpy()
    rows["away_team"] = finals["away_team"].to_numpy()
    rows["start_time"] = finals["start_time"].to_numpy()
    rows["predicted_at"] = (finals["start_time"] - pd.Timedelta(hours=12)).to_numpy()
    p = np.random.default_rng(0).uniform(0.2, 0.8, len(rows))
    rows["p_home"] = rows["p_champion"] = p
    store_predictions(FileRecords(paths.root), rows.astype(served.dtypes.to_dict()))
    return len(rows)


def measure(label: str, config_file: Path, calls: int, clients: int) -> list[list[str]]:
    rows = []
    for cache in (60.0, 0.0):
        with api(with_cache(config_file, cache)) as (client, pid):
            state = "on" if cache else "off"
            rows += predict_rows(f"{label}, cache {state}", client, pid, calls, clients)
    a_season_served(config_file)
    with api(config_file) as (client, pid):
        served = len(client.get("/v1/predictions").json())
        season = percentiles_ms(lambda: client.get("/v1/predictions"), 50)
        rows.append([f"{label}: GET /v1/predictions ({served} served games)", f"{season[0]:.2f}",
                     f"{season[1]:.2f}", "", f"{rss_mb(pid):.0f}"])  # fmt: skip
    return rows


def predict_rows(
    label: str, client: httpx.Client, pid: int, calls: int, clients: int
) -> list[list[str]]:
    upcoming = client.get("/v1/games/upcoming").json()
    if not upcoming:
        raise SystemExit("no upcoming games to score")
    first = upcoming[0]
    stored = {"home": first["home"], "away": first["away"], "start_time": first["start_time"]}
    new = {**stored, "start_time": "2031-01-05T00:30:00+00:00"}

    def post(body: dict[str, Any]) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.post("/v1/predict", json=body)
            answer.raise_for_status()
            return answer

        return call

    stored_p = percentiles_ms(post(stored), calls)
    new_p = percentiles_ms(post(new), max(calls // 10, 50))
    rps = throughput(str(client.base_url), stored, clients, 5.0)
    memory = rss_mb(pid)
    return [
        [f"{label}: POST /v1/predict (stored game)", f"{stored_p[0]:.2f}", f"{stored_p[1]:.2f}",
         f"{rps:.0f} ({clients} clients)", f"{memory:.0f}"],
        [f"{label}: POST /v1/predict (a game not in the schedule)", f"{new_p[0]:.2f}",
         f"{new_p[1]:.2f}", "", ""],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    rows: list[list[str]] = []
    stores = [("sqlite", False)] + ([] if args.no_redis else [("redis", True)])
    for label, redis in stores:
        with tempfile.TemporaryDirectory(prefix=f"gl-bench-api-{label}-") as folder:
            config_file = league(Path(folder), redis)
            rows += measure(label, config_file, args.calls, args.clients)
            if redis:
                from gameline.tasks.config import load_config
                from gameline.tasks.features.store import TeamFeatureStore

                TeamFeatureStore.from_config(load_config(config_file)).store.teardown()
    print_table(
        "gameline api on this machine (ms; client and server share its 2 cores; goal: "
        "POST /v1/predict p99 <= 10 ms, >= 500 requests/s)",
        ["request", "p50 ms", "p99 ms", "requests/s", "API RSS MB"],
        rows,
    )


if __name__ == "__main__":
    main()
