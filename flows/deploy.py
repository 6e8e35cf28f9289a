"""The one adapter over Prefect's deployment machinery: `deployments/prefect.yaml` read into
deployments that `gameline serve` runs from one process, with the same schedules, parameters and
drift trigger as `prefect deploy --all` creates (one file says them both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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
