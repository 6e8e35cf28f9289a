"""Feast imported without typeguard's run-time instrumentation (tasks/features/feast_import.py):
Feast's objects are the plain ones, typeguard is left as it was for every other library, and
Feast still decorates with typeguard (if an upgrade stops, the workaround can go)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import typeguard
original = typeguard.typechecked
{imports}
from feast import FeatureView
names = FeatureView.__init__.__code__.co_names
print(typeguard.typechecked is original, "check_argument_types_internal" in names)
"""


def imported(imports: str) -> str:
    """What a fresh interpreter prints after the given imports (Feast is imported once a
    process, so each case needs its own)."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(imports=imports)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_feast_through_the_definitions_is_not_instrumented_and_typeguard_is_restored() -> None:
    assert imported("import gameline.feature_repo.definitions") == "True False"


def test_feast_on_its_own_still_instruments_its_functions_with_typeguard() -> None:
    assert imported("import feast") == "True True"
