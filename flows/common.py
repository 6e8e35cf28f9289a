"""What every flow shares: the retry policy for steps that are safe to repeat, artifact keys,
and the current flow run's id (for the audit log)."""

from __future__ import annotations

import os
from typing import Any

from prefect.cache_policies import NO_CACHE

from gameline.tasks.config import AlertsConfig
from gameline.tasks.data.validate import ValidationFailed
from gameline.tasks.features.store import FeatureStoreError
from gameline.tasks.registry.mlflow_registry import RegistryError

# Failures a second try cannot mend: bad input or config, an unknown team or model version.
NOT_TRANSIENT = (ValidationFailed, FeatureStoreError, RegistryError, ValueError, FileNotFoundError)


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry unless the failure is one a retry cannot mend."""
    return not isinstance(state.data, NOT_TRANSIENT)


# Only for steps that are safe to run twice (reads, idempotent writes); a retry of anything
# else could do its work twice.
IO_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": transient,
}
# Tasks that take an adapter (a registry or feature store): nothing to hash, nothing to cache.
ADAPTER_TASK: dict[str, Any] = {"cache_policy": NO_CACHE}


def alert_url(alerts: AlertsConfig) -> str | None:
    """The alert target (a secret): from the environment variable the config names, else from
    the Prefect Secret block it names; None turns notifications off. Read at run time, never
    stored, logged or passed as a flow parameter."""
    url = os.environ.get(alerts.url_env)
    if url or not alerts.secret_block:
        return url or None
    from prefect.blocks.system import Secret

    return str(Secret.load(alerts.secret_block).get())


def artifact_key(name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower())


def flow_run_id() -> str | None:
    """The id of the flow run this is called in (None outside one)."""
    from prefect.runtime import flow_run

    value = flow_run.id
    return str(value) if value else None
