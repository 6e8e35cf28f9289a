"""`gameline serve` as users run it, against a real Prefect server (on PostgreSQL): the
deployments of deployments/prefect.yaml served from one process for its config, their runs, and
the API's remote retrain and rollback. `prefect deploy` of that file, process workers, runs
started with `prefect deployment run` and the drift event starting a retrain are in
test_scale_out.py, on the production stores."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.records import AUDIT, records_for
from gameline.tasks.registry.mlflow_registry import Registry
from tests.builders import REPO, write_config
from tests.servers import (
    BIN,
    Prefect,
    free_port,
    process,
)

pytestmark = [pytest.mark.services, pytest.mark.integration, pytest.mark.slow]
TOKEN = f"test-{uuid.uuid4().hex}"


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
