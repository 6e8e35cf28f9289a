"""Importing Feast without typeguard's instrumentation.

Feast decorates about 240 functions and classes with typeguard's `@typechecked`, which, at
import, re-parses and recompiles each one with run-time type checks: 2 of the 3 seconds that
`import feast` takes, in every process that imports it (each CLI command, each flow run a
worker starts), and a check on every call after. Typeguard's own documentation calls these
checks a development aid not meant to run in production (they are off under `python -O`).
Feast's first import in a process goes through `feast_without_type_checks`, which makes
`typeguard.typechecked` hand back what it decorates for the length of that import only (every
other library keeps it), so Feast's objects are the plain ones. The Feast adapter passes them
typed values; `tests/unit/features/test_feast_import.py` fails if an upgrade changes how Feast
uses typeguard."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _unchecked(target: Any = None, **_: Any) -> Any:
    """`typechecked` as a no-op, as typeguard itself is under `python -O`."""
    return (lambda decorated: decorated) if target is None else target


@contextmanager
def feast_without_type_checks() -> Iterator[None]:
    """Around Feast's first import in the process: typeguard's `typechecked` does nothing."""
    if "feast" in sys.modules:
        yield
        return
    import typeguard

    original = typeguard.typechecked
    typeguard.typechecked = _unchecked  # type: ignore[assignment]
    try:
        yield
    finally:
        typeguard.typechecked = original
