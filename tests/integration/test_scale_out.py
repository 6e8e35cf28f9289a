"""Several workers, several leagues, one set of stores, as a team would run them on two machines:
a Prefect server on PostgreSQL, an MLflow tracking server on PostgreSQL, Feast's registry on
PostgreSQL and its online store on Redis, the shared record store on PostgreSQL, and two process
workers started from two folders of their own (each its own configs and state folders, as two
machines would have). Three leagues whose teams have the same codes.

The daily runs of the three leagues and a manual retrain run at once, spread over both workers;
then one league's monitor, on the first worker, opens an alert, and the retrain its event starts
runs on the second worker, which never ran that monitor."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gameline.flows.deploy import deployment_specs, for_config
from gameline.tasks.config import GamelineConfig, load_config
from gameline.tasks.data.ingest import list_manifests, read_store
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.monitoring.triggers import read_retrains
from gameline.tasks.records import MANIFESTS, records_for
from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, read_audit_log
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.overview import overview
from gameline.tasks.serving.predictions import read_predictions
from tests.builders import AS_OF, CONFIGS, REPO, write_config
from tests.servers import (
    BIN,
    Prefect,
    database,
    free_port,
    postgres_url,
    process,
    quiet_env,
    wait_http,
)

pytestmark = [pytest.mark.services, pytest.mark.integration, pytest.mark.slow]
RUN = uuid.uuid4().hex[:6]
# name: simulator seed. Each a small league with a strong rest effect Elo cannot see, so the
# first challenger passes the gate.
LEAGUES = {f"east_{RUN}": 1, f"west_{RUN}": 2, f"north_{RUN}": 3}
EAST, WEST, NORTH = LEAGUES
LATER = AS_OF + timedelta(days=7)  # a week of results after the first daily runs
CHECKOUT = "{{ $GAMELINE_CHECKOUT }}"
REPO_DEPLOYMENTS = REPO / "deployments" / "prefect.yaml"
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def league(name: str, as_of: Any, stores: str, tracking: str) -> GamelineConfig:
    """One league on the shared stores, its state folder relative (each worker's own)."""
    overrides = {
        "name": name,
        "state_dir": f".state-{name}",
        "features": {"sources": []},
        "source": {
            "simulator": {
                "n_teams": 12, "n_seasons": 3, "games_per_team": 40, "fatigue_pts": 16.0,
                "star_pts": 0.0, "seed": LEAGUES[name], "upcoming_days": 7,
                "as_of": as_of.isoformat(),
            }
        },
        "train": {"min_train_seasons": 1},
        "gate": {"window_games": 300, "min_games": 60, "max_ece": 0.15},
        "predict": {"horizon_hours": 7 * 24},  # the week ahead, so a week later it is judged
        # A hair-trigger monitor: any game served worse than promised is an alarm.
        "monitor": {"min_games": 10, "loss_k": 0.0, "loss_h": 0.01},
        "feast": {"registry_url": stores},
        "mlflow": {"tracking_uri": tracking},
        "records": {"url": stores},
    }  # fmt: skip
    return load_config(CONFIGS / "production.yaml", overrides=overrides, environ={})


def deployments_file(folder: Path, configs: list[GamelineConfig]) -> Path:
    """deployments/prefect.yaml's daily and retrain deployments for each league: the daily runs
    take any worker's queue as the test says, the retrains the second worker's."""
    specs = {s["entrypoint"].rsplit(".", 1)[-1]: s for s in deployment_specs(REPO_DEPLOYMENTS)}
    out = []
    for config in configs:
        for flow, queue in (
            ("pipeline_flow", "a" if config.name != NORTH else "b"),
            ("retrain_flow", "b"),
        ):
            spec = for_config(specs[flow], config, f"configs/{config.name}.yaml")
            spec.pop("schedules", None)
            spec["work_pool"] = {"name": "gameline", "work_queue_name": queue}
            out.append(spec)
    # Each worker runs flows in its own folder: a variable unset where `prefect deploy` runs
    # stays a placeholder until the worker's pull step, which reads the worker's environment.
    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": CHECKOUT}}]
    path = folder / "prefect.yaml"
    path.write_text(yaml.safe_dump({"name": "gameline", "pull": pull, "deployments": out}))
    return path


def start(prefect: Prefect, name: str, cwd: Path, **params: str) -> str:
    """`prefect deployment run NAME` (no --watch); the flow run's id."""
    args = [f"{k}={v}" for k, v in params.items()]
    out = prefect.cli(
        "deployment", "run", name, *[a for p in args for a in ("--param", p)], cwd=cwd
    )
    return out.split("UUID:")[1].split()[0]


def finished(
    prefect: Prefect, ids: list[str], logs: list[Path], timeout_s: float = 400
) -> dict[str, dict[str, Any]]:
    """Wait until every run is over; each must have completed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = {
            r["id"]: r
            for r in prefect.api(
                "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}, "limit": 50}
            )
        }
        if len(runs) == len(ids) and all(r["state_type"] in TERMINAL for r in runs.values()):
            failed = [r["name"] for r in runs.values() if r["state_type"] != "COMPLETED"]
            assert not failed, f"{failed}\n" + "\n".join(log.read_text()[-4000:] for log in logs)
            return runs
        time.sleep(1)
    raise AssertionError(
        "runs not finished:\n" + "\n".join(log.read_text()[-4000:] for log in logs)
    )


@pytest.fixture
def stores(tmp_path: Path, mlflow_postgres_db: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL database for Feast's registry and the records, and an MLflow tracking
    server on another (a copy of an empty migrated store); yields (stores URL, tracking URL)."""
    with ExitStack() as stack:
        name = stack.enter_context(database(f"gl_scale_{RUN}"))
        mlflow_db = stack.enter_context(
            database(f"gl_scale_{RUN}_mlflow", template=mlflow_postgres_db)
        )
        port = free_port()
        command = [
            str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--backend-store-uri",
            postgres_url(mlflow_db),
            "--artifacts-destination", str(tmp_path / "mlflow-artifacts"),
        ]  # fmt: skip
        log = tmp_path / "mlflow-server.log"
        server = stack.enter_context(
            process(command, quiet_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"), log)
        )
        wait_http(f"http://127.0.0.1:{port}/health", server, log)
        urls = postgres_url(name), f"http://127.0.0.1:{port}"
        yield urls
        # The leagues' rows in Redis, by the RUN their Feast projects end with. Feast's own
        # teardown (`FeatureStore.teardown`, which this fixture called before) left them: 36
        # keys a run were found on this machine's Redis after earlier runs.
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        if keys := client.keys(f"*{RUN}*"):
            client.delete(*keys)


@pytest.mark.slow(seconds=150)  # about this long: scheduled first
def test_two_workers_three_leagues_one_set_of_stores(
    prefect_server: Prefect, stores: tuple[str, str], tmp_path: Path
) -> None:
    prefect = prefect_server
    folders = {worker: tmp_path / f"worker-{worker}" for worker in ("a", "b")}
    configs = [league(name, AS_OF, *stores) for name in LEAGUES]
    for folder in folders.values():
        (folder / "configs").mkdir(parents=True)
        for config in configs:
            write_config(config, folder / "configs" / f"{config.name}.yaml")
    deployments = deployments_file(folders["a"], configs)
    prefect.cli("work-pool", "create", "gameline", "--type", "process")
    prefect.cli(
        "--no-prompt", "deploy", "--all", "--prefect-file", str(deployments), cwd=folders["a"]
    )
    # The repository's own file, as the README deploys it: its schedules and parameters (its
    # runs would go to the `default` queue, which no worker here takes).
    prefect.cli(
        "--no-prompt", "deploy", "--all", "--prefect-file", str(REPO_DEPLOYMENTS), cwd=folders["a"]
    )
    deployed = prefect.api("/deployments/filter", {"limit": 50})
    repo = {d["entrypoint"].rsplit(".", 1)[-1]: d for d in deployed if d["name"] == "default"}
    assert set(repo) == {"pipeline_flow", "retrain_flow", "rollback_flow", "gate_flow"}
    daily = [
        (s["schedule"]["cron"], s["schedule"]["timezone"])
        for s in repo["pipeline_flow"]["schedules"]
    ]
    assert daily == [("0 10 * * *", "UTC")]
    weekly = repo["retrain_flow"]["schedules"][0]
    assert weekly["schedule"]["cron"] == "0 11 * * 1" and weekly["parameters"] == {
        "trigger": "schedule"
    }
    assert repo["retrain_flow"]["parameters"] == {
        "config": "configs/default.yaml",
        "trigger": "manual",
    }

    logs = [tmp_path / f"worker-{w}.log" for w in folders]
    with ExitStack() as workers:
        for (worker, folder), log in zip(folders.items(), logs, strict=True):
            command = [
                str(BIN / "prefect"),
                "worker",
                "start",
                "--pool",
                "gameline",
                "--work-queue",
                worker,
            ]
            workers.enter_context(
                process(command, {**prefect.env, "GAMELINE_CHECKOUT": str(folder)}, log, cwd=folder)
            )

        # At once: the three daily runs (east and west on the first worker, north on the
        # second) and a manual retrain of west on the second, beside west's first daily run.
        first = [start(prefect, f"daily/{name}", folders["a"]) for name in LEAGUES]
        first.append(start(prefect, f"retrain/{WEST}", folders["a"], trigger="manual"))
        runs = {r["name"]: r for r in finished(prefect, first, logs).values()}
        assert {f"daily-{EAST}", f"retrain-{WEST}-manual"} <= set(runs)
        assert f"config:{EAST}" in runs[f"daily-{EAST}"]["tags"]
        assert "trigger:manual" in runs[f"retrain-{WEST}-manual"]["tags"]
        # The config is a path in the stored parameters, never its settings.
        assert runs[f"daily-{EAST}"]["parameters"] == {"config": f"configs/{EAST}.yaml"}

        # A week later east's daily run, on the first worker: its monitor judges last week's
        # predictions and alarms; its event starts east's retrain on the second worker.
        for folder in folders.values():
            write_config(league(EAST, LATER, *stores), folder / "configs" / f"{EAST}.yaml")
        watched = prefect.cli(
            "deployment", "run", f"daily/{EAST}", "--watch", "--watch-timeout", "280"
        )
        assert "Flow run finished successfully in 'Completed'" in watched, logs[0].read_text()[
            -4000:
        ]
        deadline = time.monotonic() + 200
        triggered: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not triggered:
            found = prefect.api("/flow_runs/filter", {"limit": 100})
            triggered = [r for r in found if r["name"] == f"retrain-{EAST}-drift"]
            time.sleep(1)
        assert triggered, "\n".join(log.read_text()[-3000:] for log in logs)
        finished(prefect, [triggered[0]["id"]], logs)
        event = triggered[0]["parameters"]  # what the monitor's event carried
        assert event["trigger"] == "drift" and event["reason"] and event["kinds"]

    # Every league: one champion, every alias move in the audit log once, in a chain (each move
    # starts where the one before ended: the promotion lock held across the two workers).
    for config in configs:
        registry = Registry.from_config(config)
        records = records_for(config)
        champion = registry.alias_version(CHAMPION)
        assert champion is not None, config.name
        assert registry.alias_version(CHALLENGER) != champion
        moves = [m for m in read_audit_log(records) if m.alias == CHAMPION]
        assert moves and moves[-1].to_version == champion
        assert all(b.from_version == a.to_version for a, b in pairwise(moves))
        keys = [(m.decision_id, m.alias) for m in read_audit_log(records) if m.decision_id]
        assert len(keys) == len(set(keys)), config.name
        # Predictions: one batch per daily run that predicted, no row twice.
        table = read_predictions(records)
        assert not table.duplicated(["game_id", "predicted_at"]).any()
        assert table["predicted_at"].nunique() == (2 if config.name == EAST else 1), config.name
        # Manifests: each content once in the shared store, whichever worker ingested it.
        shared = records.doc_names(MANIFESTS)
        assert len(shared) == (2 if config.name == EAST else 1), (config.name, shared)
        for folder in folders.values():
            local = folder / config.state_dir / "manifests"
            ids = [m.manifest_id for m in list_manifests(local)] if local.exists() else []
            assert len(ids) == len(set(ids)) and {f"{MANIFESTS}/{i}.json" for i in ids} <= set(
                shared
            )
    # West was trained twice at once (its first daily run and the manual retrain, on the two
    # workers): two versions, each judged once.
    west = Registry.from_config(configs[1])
    versions = west.client.search_model_versions(f"name='{west.model_name}'")
    assert len(versions) == 2
    for version in versions:
        tags = west.version_tags(version.version)
        assert tags["gate_decision"] in ("promote", "reject") and tags["gate_reason"]
    triggers = {west.client.get_run(v.run_id).data.tags["retrain_trigger"] for v in versions}
    assert triggers == {"no_champion", "manual"}

    # East: the alert its monitor opened on the first worker is in the shared records, and the
    # retrain its event started on the second worker (whose own folder never ran that monitor)
    # decided from it.
    east = records_for(configs[0])
    alerts = [a for a in read_alerts(east) if not a.resolved]
    assert alerts and alerts[0].kind in ("excess_loss", "miscalibration")
    assert not (folders["b"] / configs[0].state_dir / "alerts").exists()
    # The API on the second worker shows the monitor run the first made (the shared record).
    on_b = configs[0].model_copy(update={"state_dir": folders["b"] / configs[0].state_dir})
    assert not (on_b.state_dir / "reports" / "monitor").exists()
    shown = overview(on_b, read_store(on_b.state_dir / "raw" / "games.parquet"))
    assert shown.monitored_at is not None and shown.open_alerts
    decisions = read_retrains(east)
    assert len(decisions) == 3  # first daily (no champion), later daily, the triggered retrain
    assert decisions[-1].reasons and "live performance alarm" in decisions[-1].reasons[0], (
        decisions[-1]
    )
    assert not decisions[-1].retrain and decisions[-1].blocked_by == "too few new games"
    # The three leagues share team codes but not Feast's online rows.
    import redis

    keys = redis.Redis(host="127.0.0.1", port=6379).keys(f"*{RUN}*")
    projects = {name: [k for k in keys if f"gameline_{name}".encode() in k] for name in LEAGUES}
    assert all(len(found) == 12 for found in projects.values()), {
        n: len(k) for n, k in projects.items()
    }
    teams = [
        set(pd.read_parquet(folders["a"] / c.state_dir / "raw" / "games.parquet")["home_team"])
        for c in configs[:2]
    ]
    assert teams[0] == teams[1]
