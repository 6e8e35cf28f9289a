"""What every flow shares: the config reference a flow takes, run names and tags, the retry
policy for steps that are safe to repeat, artifact keys, and the current flow run's id (for the
audit log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import WithJsonSchema

from gameline.tasks.backends import BackendUnavailable, preflight
from gameline.tasks.config import AlertsConfig, GamelineConfig, load_config
from gameline.tasks.data.validate import ValidationFailed
from gameline.tasks.features.store import FeatureStoreError
from gameline.tasks.records import records_for
from gameline.tasks.registry.mlflow_registry import Registry, RegistryError
from gameline.tasks.registry.snapshot import record_snapshot
from gameline.tasks.storage import disk_trouble

# What a flow takes as its config: a YAML path (deployments, the CLI: the parameter Prefect stores
# and shows is the path, never the settings or a secret resolved from the environment), or a
# config object (tests, library use). Its JSON schema (the Prefect UI's run form) is the path's:
# a text field, not the whole config as a nested form, and not generated again for every flow
# at import (about 80 ms each, 11 flows).
ConfigRef = Annotated[
    GamelineConfig | Path,
    WithJsonSchema(
        {"type": "string", "format": "path", "title": "config",
         "description": "the YAML config file, relative to the folder runs start in"}
    ),
]  # fmt: skip


def load(config: ConfigRef) -> GamelineConfig:
    """The config a reference points at (a path is read, with its `GAMELINE_*` overrides, at
    run time, in the process that runs the flow)."""
    return config if isinstance(config, GamelineConfig) else load_config(Path(config))


def resolve(config: ConfigRef, flow: str) -> GamelineConfig:
    """The config the flow named `flow` runs on, once every server it needs has answered: a
    server that is down is one clear failure at the flow's start, not after its work."""
    loaded = load(config)
    preflight(loaded, flow)
    return loaded


@contextmanager
def subflows() -> Iterator[None]:
    """Flows called inside this block run without heartbeats of their own: a subflow runs in
    its parent's process, whose flow run already sends them (Prefect's crash detection), and
    each flow run's heartbeat costs up to a second at its end (Prefect joins a thread that
    sleeps in one-second steps): three per retraining day."""
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield


def current_tags() -> set[str]:
    """The tags Prefect gives what starts here (the block of `prefect.tags` around it)."""
    from prefect.context import TagsContext

    return set(TagsContext.get().current_tags)


@contextmanager
def untagged_tasks() -> Iterator[None]:
    """Tasks called in this block carry none of the tags around it; the runs of the flows that
    call it keep theirs (they are tagged when they start). A task run with tags asks the API
    for their concurrency limits before it starts, one request each; a Prefect server on SQLite
    (`make demo`'s, the tests') answers it with a 503 when its database is busy, and the client
    waits 2 s before asking again: 5 times in 3 first daily runs of the default league, none
    once its tasks were untagged."""
    from prefect.context import TagsContext

    with TagsContext(current_tags=set()):
        yield


def config_name(config: Any) -> str:
    """The config's name, for run names and tags (a path is read; a bad one names its file)."""
    if isinstance(config, GamelineConfig):
        return config.name
    try:
        return load(Path(str(config))).name
    except (OSError, ValueError):
        return Path(str(config)).stem


def run_name(flow: str, *extra: str) -> Callable[[], str]:
    """A flow run name `<flow>-<config name>[-<parameter>...]` from the run's parameters."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        parts = [flow, config_name(params.get("config"))]
        parts += [str(params[p]) for p in extra if params.get(p)]
        return "-".join(parts)

    return name


def run_logger() -> Any:
    """The current run's logger (its lines reach the run's logs in Prefect); outside a run, the
    module logger."""
    import logging

    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("gameline")


def log_stage(line: str) -> None:
    """Log a stage's line on the current run (printed on the console too; the Prefect UI's
    logs tab reads like the terminal), and note the stage as finished in this process
    (outside a run, e.g. a task's function called bare: the module logger)."""
    run_logger().info(line)
    FINISHED_STAGES.append(line.split(":", 1)[0].split(" ", 1)[0])


# The stages this process finished (by their line's first word: ingest, monitor, train, ...),
# so a command cut short can say how far it got.
FINISHED_STAGES: list[str] = []

# Who hears of a flow's counted steps in this process (what, done, total): the CLI's progress
# bar while a command runs; nobody in a deployment's run (its Prefect artifact says it there).
CONSOLE_PROGRESS: list[Callable[[str, int, int], None]] = []


def report_progress(what: str, done: int, total: int) -> None:
    for hear in CONSOLE_PROGRESS:
        hear(what, done, total)


def run_tags(config: GamelineConfig, *more: str) -> list[str]:
    """Tags for a run and what it starts: the product, the config and, say, the trigger."""
    return ["gameline", f"config:{config.name}", *more]


def tag_run(*tags: str) -> None:
    """Add tags to the current flow run (shown and filterable in the Prefect UI); outside a
    flow run, nothing."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.id
    if not run_id:
        return
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run_id).tags
        client.update_flow_run(run_id, tags=sorted({*current, *tags}))


# Expected failures: bad input or config, an unknown team or model version, a backend that is
# down. A second try cannot mend them, so they are never retried (a backend that is down is
# reported at once: a nightly run is better told in seconds, and the deployment can be rerun),
# and the CLI reports each as one `error:` line.
EXPECTED_FAILURES = (
    ValidationFailed,
    FeatureStoreError,
    RegistryError,
    BackendUnavailable,
    ValueError,
    FileNotFoundError,
)


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry unless the failure is one a retry cannot mend (bad
    input, a backend down, a full or read-only disk)."""
    failure = state.data
    return not (isinstance(failure, EXPECTED_FAILURES) or disk_trouble(failure))


# Only for steps that are safe to run twice (reads, idempotent writes); a retry of anything
# else could do its work twice.
IO_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": transient,
}
# Tasks that take an adapter (a registry or feature store): nothing to hash, nothing to cache.
ADAPTER_TASK: dict[str, Any] = {"cache_policy": NO_CACHE}


@task(name="record-registry", **IO_RETRIES, **ADAPTER_TASK)
def snapshot_task(registry: Registry, config: GamelineConfig) -> None:
    """Record the models behind the aliases for `gameline status` (after every change)."""
    record_snapshot(registry, records_for(config), datetime.now(UTC))


def alert_url(alerts: AlertsConfig) -> str | None:
    """The alert target (a secret): from the environment variable the config names, else from
    the Prefect Secret block it names; None turns notifications off. Read at run time, never
    stored, logged or passed as a flow parameter."""
    url = alerts.url_from_environment()
    if url or not alerts.secret_block:
        return url
    from prefect.blocks.system import Secret

    return str(Secret.load(alerts.secret_block, _sync=True).get())  # also in an async flow


def artifact_key(name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower())


def flow_run_id() -> str | None:
    """The id of the flow run this is called in (None outside one)."""
    from prefect.runtime import flow_run

    value = flow_run.id
    return str(value) if value else None


# Safe to repeat: a second call finds nothing left to rebuild.
@task(name="heal-derived-stores", **IO_RETRIES, **ADAPTER_TASK)
def heal_task(config: GamelineConfig) -> list[str]:
    """Rebuild the Feast registry or the online store where they cannot be read (both derive
    from what the state folder holds); a warning line and an alert for each, and the run goes
    on."""
    from gameline.tasks.features.store import TeamFeatureStore
    from gameline.tasks.monitoring.notify import Notifier

    notes = TeamFeatureStore.from_config(config).heal()
    for note in notes:
        run_logger().warning("rebuilt a derived store: %s", note)
    if notes:
        Notifier(alert_url(config.alerts)).send(
            f"Gameline {config.name}: a derived store was damaged and has been rebuilt",
            "\n".join(notes),
        )
    return notes
