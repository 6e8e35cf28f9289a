"""A quiet console for the `gameline` command: an expected failure is one `error:` line, while
the run in Prefect keeps every detail; `-v` shows library warnings and Prefect's tracebacks."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

# Offline machines: no telemetry look-ups (defaults; the environment can override). The CLI and
# the test suite both set these.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}
VERBOSE = {"on": False}


def no_telemetry() -> None:
    """Turn the libraries' telemetry off for this process (unless the environment says)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def setup(verbose: bool) -> None:
    """Before any library is imported: telemetry off and, without -v, warnings and MLflow's INFO
    lines off the console."""
    VERBOSE["on"] = verbose
    no_telemetry()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if verbose:
        return
    warnings.simplefilter("ignore")
    # Libraries that reset the filters when imported mid-run (litestar's deprecations in a
    # replay) cannot bring the warnings back to the console.
    warnings.showwarning = _discard_warning
    # Nor can the processes this command starts (the replay's workers: see tasks/replay/parallel).
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow sets its logger's level when imported, from this variable (else INFO).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _discard_warning(*args: Any, **kwargs: Any) -> None:
    """`warnings.showwarning` without -v: nothing on the console."""


class QuietFailures(logging.Filter):
    """On the console (not in the run's logs in Prefect): no failure records or tracebacks from
    Prefect's engine; the command reports the failure itself, once (`error: ...`), and an
    unexpected one ends with Python's own traceback."""

    LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine", "prefect.flow_engine")
    # Prefect's background services (events, concurrency leases): with the API gone they log
    # every item they could not send, each a page long; the command says what happened.
    SERVICES = ("prefect._internal.concurrency", "prefect.events.clients")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.SERVICES):
            return record.levelno < logging.WARNING
        if not record.name.startswith(self.LOGGERS):
            return True
        failed = record.levelno >= logging.ERROR or record.exc_info is not None
        return not (failed or "Finished in state Failed" in record.getMessage())


def quiet_prefect_console() -> None:
    """Install QuietFailures on Prefect's console handler (unless -v)."""
    if VERBOSE["on"]:
        return
    warnings.simplefilter("ignore")  # again: libraries imported since may have reset it
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # Prefect's handlers exist from here on
    # Prefect routes warnings into logging (`logging.captureWarnings`), past the filters set in
    # `setup`: Great Expectations' deprecation warnings, imported in a task, reached the console
    # as `py.warnings` lines. Their logger is the one place all such lines pass.
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    # Prefect's log shipper writes its failures to send to stderr itself unless this is off.
    logging.raiseExceptions = False
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    internal = set(logging.getLogger("prefect._internal").handlers)  # its own stderr handler
    for handler in {h for logger in loggers for h in getattr(logger, "handlers", [])}:
        console = isinstance(handler, PrefectConsoleHandler) or handler in internal
        if console and not any(isinstance(f, QuietFailures) for f in handler.filters):
            handler.addFilter(QuietFailures())


@contextlib.contextmanager
def library_chatter() -> Iterator[None]:
    """Without -v, what libraries print or log on stderr inside the block stays off the
    console (an error still ends the command with its `error:` line or traceback)."""
    if VERBOSE["on"]:
        yield
        return
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)
