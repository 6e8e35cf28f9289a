"""What the `gameline` commands share: their options, reading the config, one `error:` line
for an expected failure, the temporary Prefect server, running a flow and showing its result.
Heavy libraries are imported inside the functions, so --help stays instant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gameline.flows import display, quiet

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="YAML config", exists=True, dir_okay=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="ingest this file instead of the configured source"),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="model version (default: the challenger)")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="overwrite the config")]
WorthOpt = Annotated[
    bool,
    typer.Option(
        "--worth",
        help="instead: walk forward with and without each feature source and print what each "
        "is worth (log-loss change, bootstrap interval); registers nothing",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="show library warnings and Prefect's tracebacks as well"),
]
DEFAULT_CONFIG = Path("configs/default.yaml")


def load_or_fail(config: Path) -> Any:
    """The config, or one `error:` line naming the file and what is wrong with it."""
    from gameline.tasks.config import load_config

    try:
        return load_config(config)
    except (ValueError, OSError) as exc:
        fail(exc)


def fail(exc: Exception) -> NoReturn:
    """One `error:` line and exit 1; a write the disk refused says which file and what to do."""
    from gameline.tasks.storage import disk_trouble

    display.error(disk_trouble(exc) or str(exc))
    raise typer.Exit(code=1)


def prepare(config: Path, flow: str) -> None:
    """Before Prefect, Feast and MLflow are imported (about 8 s): a bad config or a server the
    flow needs that is down fails here, in a second; without a configured Prefect server, a
    temporary one for this command, starting while the flow's modules are imported."""
    from gameline.flows.server import ensure_prefect_api
    from gameline.tasks.backends import BackendUnavailable, preflight

    try:
        preflight(load_or_fail(config), flow)
        server = ensure_prefect_api()
    except (BackendUnavailable, ValueError, FileNotFoundError) as exc:
        fail(exc)
    if server:
        STARTING.append(server)
        display.note(
            f"temporary Prefect server at {server.url}, stopped with this command (runs are "
            "not kept: start `prefect server start` and set PREFECT_API_URL to keep them)"
        )


STARTING: list[Any] = []  # the temporary server `prepare` started, until it answers


def call_flow(flow: Callable[..., Any], config: Path, *args: Any) -> Any:
    """Run a flow on a config file (Prefect stores and shows the path, never resolved secrets);
    an expected failure, or a full or read-only disk, is one `error:` line."""
    from gameline.flows.common import EXPECTED_FAILURES
    from gameline.tasks.storage import disk_trouble

    quiet.quiet_prefect_console()
    try:
        while STARTING:
            STARTING[-1].wait()
            STARTING.pop()
        return flow(config.resolve(), *args)
    except EXPECTED_FAILURES as exc:  # ContractError is a ValueError
        fail(exc)
    except Exception as exc:  # anything else is a bug: its traceback
        if disk_trouble(exc) is None:
            raise
        fail(exc)


def show_result(result: Any, as_json: bool) -> None:
    """A flow's result: JSON on stdout, or its facts as tables and lines."""
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        display.show(result.facts())


def input_file(file: Path | None, config: Path) -> Path | None:
    """--file as the user means it: relative to the current folder where it is there, else
    under the config's data_dir; a file in neither is one line, before any server starts."""
    if file is None or file.is_absolute():
        return file
    if file.exists():
        return file.resolve()
    under = load_or_fail(config).data_dir / file
    if not under.exists():
        where = f"here ({Path.cwd()}) or in data_dir ({under.parent})"
        fail(FileNotFoundError(f"{file}: file not found {where}"))
    return file
