"""What the `gameline` commands share: their options, reading the config, one `error:` line
for an expected failure, the temporary Prefect server, running a flow and showing its result.
Heavy libraries are imported inside the functions, so --help stays instant."""

from __future__ import annotations

import asyncio
import atexit
import inspect
import os
import sys
import threading
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
# `gameline api` and `serve --api`
ApiHostOpt = Annotated[str, typer.Option("--host", help="address the API listens on")]
ApiPortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="the API's port")]
PollOpt = Annotated[
    float, typer.Option(min=0.1, help="seconds between the API's looks at the champion alias")
]
# `gameline init`
LeagueFileOpt = Annotated[
    Path,
    typer.Option(
        "--from", help="the league's results file (CSV or parquet)", exists=True, dir_okay=False
    ),
]
LeagueOpt = Annotated[
    str | None, typer.Option("--league", help="the league's name (default: from the file)")
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="the file's column for a contract column where the guess is wrong or missing: "
        "home_team=HomeTeam,away_score=G",
    ),
]
SportOpt = Annotated[
    str | None,
    typer.Option(help="basketball | football | baseball | hockey | soccer (default: guessed)"),
]
LeagueOutOpt = Annotated[
    Path | None, typer.Option("--out", help="the config to write (default: configs/LEAGUE.yaml)")
]
# `gameline replay`
PolicyOpt = Annotated[
    str, typer.Option(help="never | scheduled | drift | all, or a comma list; 'every' for all four")
]
MonitorEveryOpt = Annotated[
    int | None,
    typer.Option(min=1, help="days between monitor runs (default: monitor.window_days)"),
]
ScheduleDaysOpt = Annotated[int, typer.Option(min=1, help="days between scheduled retrains")]
MlflowOpt = Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="log to MLflow")]
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
    from gameline.flows.common import CONSOLE_PROGRESS, EXPECTED_FAILURES
    from gameline.tasks.storage import disk_trouble

    quiet.quiet_prefect_console()
    try:
        while STARTING:
            STARTING[-1].wait()
            STARTING.pop()
        with ApiWatch(os.environ.get("PREFECT_API_URL")), display.Steps() as progress:
            CONSOLE_PROGRESS.append(progress)  # the folds' progress, on this terminal
            try:
                result = flow(config.resolve(), *args)
                # The daily flow is async (Prefect joins no heartbeat thread at its end).
                return asyncio.run(result) if inspect.iscoroutine(result) else result
            finally:
                CONSOLE_PROGRESS.remove(progress)
    except EXPECTED_FAILURES as exc:  # ContractError is a ValueError
        fail(exc)
    except Exception as exc:  # anything else is a bug: its traceback
        if lost := api_lost(exc):
            lost_api_exit(lost)
        if disk_trouble(exc) is None:
            raise
        fail(exc)


class ApiWatch:
    """While a command's flow runs, its Prefect API is asked for its health every second; when
    it has not answered for LOST_AFTER_S (a server stopped or restarting), the command ends
    with one `error:` line (`lost_api_exit`) instead of waiting out Prefect's client retries,
    a minute per call. Only refused connections count: a server that answers, even with an
    error or slowly, is not lost (a busy one's 503s are left to Prefect's retries)."""

    LOST_AFTER_S = 6.0

    def __init__(self, api_url: str | None) -> None:
        import threading

        self.url = f"{api_url.rstrip('/')}/health" if api_url else None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="gameline-api-watch", daemon=True)

    def __enter__(self) -> ApiWatch:
        if self.url:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()

    def _watch(self) -> None:
        import time

        import httpx

        silent_since: float | None = None
        while not self.done.wait(1.0):
            try:
                httpx.get(self.url or "", timeout=5.0)
                silent_since = None
            except httpx.ConnectError as exc:  # refused or unreachable: nothing listens
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since >= self.LOST_AFTER_S and not self.done.is_set():
                    lost_api_exit(f"no answer for {self.LOST_AFTER_S:g} s: {exc}")
            except httpx.TransportError:  # slow under load, say: not counted either way
                continue


def api_lost(exc: BaseException) -> str | None:
    """What went wrong when `exc` (or what caused it) is the Prefect API not answering: a
    connection refused or cut, or the server's own 5xx (None: something else)."""
    import httpx

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, httpx.TransportError):
            return str(current) or type(current).__name__
        response = getattr(current, "response", None)
        if isinstance(response, httpx.Response) and response.status_code >= 500:
            return f"{response.status_code} from {response.request.url}"
        current = current.__cause__ or current.__context__
    return None


def lost_api_exit(reason: str) -> NoReturn:
    """One `error:` line for a Prefect API lost mid-run, then exit at once: Prefect's workers
    would spend half a minute trying to send their queued events and logs to the lost server.
    Every file the run wrote was written whole (temporary file, then rename); what it did not
    reach, the next run does."""
    from gameline.flows.common import FINISHED_STAGES

    url = os.environ.get("PREFECT_API_URL", "the Prefect API")
    done = ", ".join(dict.fromkeys(FINISHED_STAGES)) or "none"
    display.error(
        f"the Prefect API at {url} stopped answering during the run ({reason}); stages "
        f"finished: {done}. What was stored is complete; the rest is redone by the next run (a "
        "registration cut short is tidied then): start the server again and rerun the command"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


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


def exit_now(code: object) -> NoReturn:
    """End the `gameline` process without tearing the interpreter down. Python's own shutdown
    frees every object of Prefect, MLflow, Feast, pandas and LightGBM one by one: 1-2 s after
    the work is done, where the operating system frees a process's memory at once. What a
    normal exit still does is done first: other (non-daemon) threads joined, the atexit
    handlers run (Prefect's log and event workers send what they hold to the API, logging's
    handlers close), stdout and stderr flushed. `code` is SystemExit's: None, a status, or a
    message (printed, status 1)."""
    if code is None or isinstance(code, int):
        status = int(code or 0)
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    # What the interpreter's shutdown does first: threading's exit hooks (an executor's idle
    # workers told to stop), then every non-daemon thread joined.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a closed stream
            status = status or 1
    os._exit(status)
