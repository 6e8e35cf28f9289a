"""The one adapter over Prefect's deployment machinery: `deployments/prefect.yaml` read into
deployments that `gameline serve` runs from one process, with the same schedules, parameters and
drift trigger as `prefect deploy --all` creates (one file says them both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from pydantic import BaseModel

from gameline.tasks.backends import BackendUnavailable, http_get, prefect_api_url, redact
from gameline.tasks.config import GamelineConfig

DEPLOYMENTS_FILE = Path("deployments/prefect.yaml")  # from the repository root
# The configs' name in deployments/prefect.yaml; `serve` swaps in its own config's.
FILE_CONFIG = "default"


def deployment_specs(path: Path = DEPLOYMENTS_FILE) -> list[dict[str, Any]]:
    """The `deployments:` of a prefect.yaml (anchors from `definitions:` resolved)."""
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"deployments file not found: {path}") from exc
    deployments = (spec or {}).get("deployments")
    if not deployments:
        raise ValueError(f"{path}: no `deployments:`")
    return list(deployments)


def for_config(spec: dict[str, Any], config: GamelineConfig, config_ref: str) -> dict[str, Any]:
    """A deployment spec retargeted at one config: its name, parameter, tags, and a trigger on
    this config's drift only (several `serve` processes, one per config, each retrain their
    own)."""

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(f"config:{FILE_CONFIG}", f"config:{config.name}").replace(
                "gameline.config.*", f"gameline.config.{config.name}"
            )
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    out = swap(spec)
    out["name"] = config.name
    out["parameters"] = {**out.get("parameters", {}), "config": config_ref}
    return out


def runner_deployment(spec: dict[str, Any]) -> Any:
    """A Prefect RunnerDeployment from one spec (what `flow.serve` would build)."""
    from prefect.events import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    flow = load_flow_from_entrypoint(spec["entrypoint"], use_placeholder_flow=False)
    schedules = [
        Cron(
            s["cron"],
            timezone=s.get("timezone"),
            active=s.get("active", True),
            parameters=s.get("parameters") or {},
            slug=s.get("slug"),
        )
        for s in spec.get("schedules") or []
    ]
    triggers = [
        DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
        for t in spec.get("triggers") or []
    ]
    return flow.to_deployment(
        name=spec["name"],
        parameters=spec.get("parameters"),
        schedules=schedules or None,
        triggers=triggers or None,
        description=spec.get("description"),
        tags=spec.get("tags"),
    )


def serve(config: GamelineConfig, config_ref: str, path: Path = DEPLOYMENTS_FILE) -> None:
    """Serve every deployment of the file for one config until interrupted (no work pool);
    ValueError without a Prefect server to hold the schedules."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise ValueError(
            "serve needs a Prefect server for its schedules: start one (`prefect server "
            "start`) and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
        )
    specs = [for_config(s, config, config_ref) for s in deployment_specs(path)]
    prefect_serve(*[runner_deployment(s) for s in specs])


class StartedRun(BaseModel):
    """A flow run started on the Prefect server (the work runs wherever the deployment is
    served: `gameline serve` or a worker, never in the process that asked)."""

    flow_run_id: str
    name: str
    deployment: str
    state: str
    url: str  # the run in the Prefect UI


def _prefect_or_fail() -> str:
    """The Prefect API's URL once it answers its health check (seconds, not minutes)."""
    url = prefect_api_url()
    if not url:
        raise BackendUnavailable(
            "the Prefect API: no PREFECT_API_URL; start a server (`prefect server start`), "
            "serve the deployments (`gameline serve --config X --api`) and set PREFECT_API_URL"
        )
    http_get(url.rstrip("/") + "/health", "the Prefect API")
    return url


def prefect_ui() -> str | None:
    """The Prefect UI of the server in PREFECT_API_URL (None without a server)."""
    if not prefect_api_url():
        return None
    from prefect.settings import PREFECT_UI_URL

    return str(PREFECT_UI_URL.value() or "").rstrip("/") or None


def _ui_link(flow_run_id: str) -> str:
    return f"{prefect_ui() or ''}/runs/flow-run/{flow_run_id}"


def start_run(
    flow_name: str, config: GamelineConfig, parameters: dict[str, Any], tags: list[str]
) -> StartedRun:
    """Start a run of the deployment `<flow_name>/<config name>` with these parameters (merged
    over the deployment's own) and return at once. BackendUnavailable when the Prefect API is
    down; LookupError when it has no such deployment."""
    url = _prefect_or_fail()
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    name = f"{flow_name}/{config.name}"
    try:
        run = run_deployment(
            name=name, parameters=parameters, timeout=0, tags=tags, as_subflow=False
        )
    except ObjectNotFound as exc:
        raise LookupError(
            f"the Prefect API at {redact(url)} has no deployment {name!r}: serve them with "
            f"`gameline serve --config X` (or `prefect deploy --all`)"
        ) from exc
    return StartedRun(
        flow_run_id=str(run.id),
        name=run.name,
        deployment=name,
        state=run.state.name if run.state else "Scheduled",
        url=_ui_link(str(run.id)),
    )


def run_state(flow_run_id: str) -> StartedRun:
    """A flow run's current state; LookupError when the server has no such run."""
    _prefect_or_fail()
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(flow_run_id))
            deployment = client.read_deployment(run.deployment_id).name if run.deployment_id else ""
        except ObjectNotFound as exc:
            raise LookupError(f"no flow run {flow_run_id}") from exc
    return StartedRun(
        flow_run_id=flow_run_id,
        name=run.name,
        deployment=deployment,
        state=run.state.name if run.state else "unknown",
        url=_ui_link(flow_run_id),
    )
