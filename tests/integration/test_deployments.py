"""Gameline operated as users run it: a real Prefect server (on PostgreSQL), the deployments of
deployments/prefect.yaml, a process worker, runs started with `prefect deployment run` from the
CLI, and the drift event starting a retrain. The pipeline itself runs on the production
configuration: Feast registry and MLflow on PostgreSQL, the online store on Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.monitoring.triggers import read_retrains
from gameline.tasks.records import AUDIT, records_for
from gameline.tasks.registry.mlflow_registry import Registry
from tests.builders import REPO, write_config
from tests.servers import (
    BIN,
    Prefect,
    database,
    free_port,
    need_services,
    process,
)

pytestmark = [pytest.mark.services, pytest.mark.integration, pytest.mark.slow]
TOKEN = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def production(sim_config: Callable[..., GamelineConfig]) -> Iterator[GamelineConfig]:
    """The production configuration (Feast on PostgreSQL + Redis, MLflow on PostgreSQL) on a
    small simulated league, with databases of its own."""
    need_services()
    project = f"gl_test_{uuid.uuid4().hex[:8]}"
    with database(project), database(f"{project}_mlflow"):
        config = sim_config(
            "production",
            feast={
                "project": project,
                "registry_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{project}",
            },
            mlflow={
                "tracking_uri": f"postgresql+psycopg://postgres@127.0.0.1:5432/{project}_mlflow"
            },
            records={"url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{project}"},
            train={"min_train_seasons": 1},
            gate={"window_games": 150, "min_games": 100},
            source={"simulator": {"n_seasons": 3, "games_per_team": 40}},
        )
        yield config
        from gameline.tasks.features.store import TeamFeatureStore

        TeamFeatureStore.from_config(config).store.teardown()  # its keys in Redis


def run_deployment(prefect: Prefect, name: str, config: Path, worker_log: Path) -> str:
    """`prefect deployment run NAME --param config=... --watch`: the CLI a user types (on a
    failure, the worker's log shows the run's own output)."""
    done = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", name, "--param", f"config={config}",
         "--watch", "--watch-timeout", "280"],
        env=prefect.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    finished = "Flow run finished successfully in 'Completed'" in done.stdout
    assert finished, f"{done.stdout[-2000:]}\n{worker_log.read_text()[-6000:]}"
    return done.stdout


@pytest.mark.slow(seconds=70)  # about this long: scheduled first
def test_deployed_daily_manual_retrain_and_drift_trigger(
    prefect_server: Prefect, production: GamelineConfig, tmp_path: Path
) -> None:
    prefect = prefect_server
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    config_file = write_config(production, project / "configs" / "production.yaml")

    # Deploy as the README says, from the folder the runs will start in.
    prefect.cli("work-pool", "create", "gameline", "--type", "process", cwd=project)
    prefect.env["PWD"] = str(project)
    prefect.cli(
        "--no-prompt", "deploy", "--all", "--prefect-file",
        str(REPO / "deployments" / "prefect.yaml"), cwd=project,
    )  # fmt: skip
    deployments = {
        f"{d['entrypoint'].rsplit('.', 1)[-1]}": d
        for d in prefect.api("/deployments/filter", {"limit": 50})
    }
    assert set(deployments) == {"pipeline_flow", "retrain_flow", "rollback_flow", "gate_flow"}
    daily = deployments["pipeline_flow"]["schedules"]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in daily] == [
        ("0 10 * * *", "UTC")
    ]
    weekly = deployments["retrain_flow"]["schedules"][0]
    assert weekly["schedule"]["cron"] == "0 11 * * 1" and weekly["parameters"] == {
        "trigger": "schedule"
    }
    assert deployments["retrain_flow"]["parameters"]["trigger"] == "manual"

    worker_log = tmp_path / "worker.log"
    worker_cmd = [str(BIN / "prefect"), "worker", "start", "--pool", "gameline"]
    with process(worker_cmd, prefect.env, worker_log, cwd=project):
        # The daily deployment: ingest, features, Feast on PostgreSQL + Redis, the monitor, a
        # first training (no champion yet), its gate, predictions.
        run_deployment(prefect, "daily/default", config_file, worker_log)
        paths = state_paths(production)
        records = records_for(production)  # the shared record store (PostgreSQL)
        assert not paths.retrain_log.exists()  # not the state folder
        first = read_retrains(records)
        assert first[-1].trigger == "no_champion" and first[-1].retrain

        # A manual retrain, by the CLI: a new version registered, with its gate decision.
        before = {
            v.version for v in Registry.from_config(production).client.search_model_versions()
        }
        run_deployment(prefect, "retrain/default", config_file, worker_log)
        registry = Registry.from_config(production)
        versions = registry.client.search_model_versions(f"name='{registry.model_name}'")
        new = [v for v in versions if v.version not in before]
        assert len(new) == 1
        tags = registry.version_tags(new[0].version)
        assert tags["gate_decision"] in ("promote", "reject") and tags["gate_reason"]
        run = registry.client.get_run(new[0].run_id)
        assert run.data.tags["retrain_trigger"] == "manual"
        names = {r["name"]: r for r in prefect.flow_runs()}
        assert {"daily-production", "retrain-production-manual", "train-production"} <= set(names)
        assert "trigger:manual" in names["retrain-production-manual"]["tags"]
        assert "config:production" in names["daily-production"]["tags"]
        # The config is a path in the stored parameters, not its settings.
        assert names["daily-production"]["parameters"] == {"config": str(config_file)}

        # The drift event, as the monitor emits it: the trigger starts the retrain deployment.
        emitted = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", (
                "from prefect.events import emit_event\n"
                "emit_event(event='gameline.drift.detected',"
                " resource={'prefect.resource.id': 'gameline.config.production'},"
                f" payload={{'config': {str(config_file)!r}, 'reason': 'test: home edge gone'}})"
            )],
            env=prefect.env, check=True, timeout=60,
        )  # fmt: skip
        drift = None
        while time.monotonic() - emitted < 120:
            runs = [r for r in prefect.flow_runs() if r["parameters"].get("trigger") == "drift"]
            if runs and runs[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED"):
                drift = runs[0]
                break
            time.sleep(1)
        assert drift is not None, worker_log.read_text()[-3000:]
        assert drift["state_type"] == "COMPLETED", worker_log.read_text()[-3000:]
        assert drift["name"] == "retrain-production-drift"
        assert drift["parameters"]["reason"] == "test: home edge gone"
        # It went through the same decision as any trigger: logged, after the manual retrain.
        decisions = read_retrains(records)
        assert len(decisions) == len(first) + 2


@pytest.mark.slow(seconds=40)  # about this long: scheduled first
def test_gameline_serve_serves_the_same_deployments_for_its_config(
    prefect_server: Prefect, sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> None:
    """`gameline serve`: the file's deployments, named after its config, with the file's
    schedules and a drift trigger on that config only, run from the serving process."""
    prefect = prefect_server
    small = sim_config(train={"min_train_seasons": 1}, gate={"window_games": 60, "min_games": 30})
    served = small.model_copy(update={"name": "served"})
    config_file = write_config(served, tmp_path / "served.yaml")
    api_port = free_port()
    command = [
        str(BIN / "gameline"), "serve", "--config", str(config_file),
        "--deployments", str(REPO / "deployments" / "prefect.yaml"),
        "--api", "--port", str(api_port),
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    env = {**prefect.env, "GAMELINE_API_TOKENS": f"alice:{TOKEN}"}
    with process(command, env, log, cwd=REPO):
        deadline = time.monotonic() + 90
        mine: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline and len(mine) < 4:
            found = prefect.api("/deployments/filter", {"limit": 50})
            mine = {d["entrypoint"]: d for d in found if d["name"] == "served"}
            time.sleep(1)
        assert len(mine) == 4, log.read_text()[-3000:]
        daily = next(d for e, d in mine.items() if e.endswith("pipeline_flow"))
        assert daily["parameters"] == {"config": str(config_file)}
        assert [s["schedule"]["cron"] for s in daily["schedules"]] == ["0 10 * * *"]
        assert "config:served" in daily["tags"]
        retrain = next(d for e, d in mine.items() if e.endswith("retrain_flow"))
        automations = prefect.api("/automations/filter", {"limit": 50})
        ours = [
            a for a in automations
            if any(act.get("deployment_id") == retrain["id"] for act in a["actions"])
        ]  # fmt: skip
        assert len(ours) == 1
        trigger = ours[0]["trigger"]
        assert trigger["match"]["prefect.resource.id"] == "gameline.config.served"
        assert trigger["expect"] == ["gameline.drift.detected"]

        # A run of a served deployment executes in the serving process.
        out = prefect.cli("deployment", "run", "daily/served", "--watch", "--watch-timeout", "200")
        assert "Flow run finished successfully in 'Completed'" in out, log.read_text()[-3000:]
        assert state_paths(served).raw_games.exists()

        # The API served next to the deployments: a remote retrain and rollback run there.
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ) as api:
            retrain = remote_run(api, "/v1/retrain", {"reason": "new box scores"}, log)
            assert (
                retrain["url"]
                == f"{prefect.url.removesuffix('/api')}/runs/flow-run/{retrain['flow_run_id']}"
            )
            run = next(r for r in prefect.flow_runs() if r["id"] == retrain["flow_run_id"])
            assert "requested-by:alice" in run["tags"] and run["name"] == "retrain-served-manual"
            assert run["parameters"]["requested_by"] == "alice"
            # This small league's gate may have promoted neither version: give it a champion.
            registry = Registry.from_config(served)
            champion = registry.alias_version("champion")
            if champion is None:
                registry.set_alias("champion", champion := "1")
            to = "1" if champion == "2" else "2"
            remote_run(api, "/v1/rollback", {"to": to, "reason": "test"}, log)
            moves = records_for(served).read_lines(AUDIT)
            last = json.loads(moves[-2])  # the champion's move, then previous-champion's
            assert last["alias"] == "champion" and last["to_version"] == to
            assert last["requested_by"] == "alice"
            asked = state_paths(served).root / "api_requests.jsonl"
            assert [json.loads(line)["action"] for line in asked.read_text().splitlines()] == [
                "retrain", "rollback",
            ]  # fmt: skip
        assert TOKEN not in log.read_text()


def remote_run(api: httpx.Client, path: str, body: dict[str, str], log: Path) -> dict[str, Any]:
    """POST a write endpoint and follow its flow run (GET /v1/runs/{id}) to Completed."""
    started = api.post(path, json=body)
    assert started.status_code == 202, started.text
    run = started.json()
    deadline = time.monotonic() + 200
    while run["state"] not in ("Completed", "Failed", "Crashed", "Cancelled"):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
        run = api.get(f"/v1/runs/{run['flow_run_id']}").json()
    assert run["state"] == "Completed", log.read_text()[-3000:]
    return run
