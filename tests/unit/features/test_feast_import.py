"""Feast imported without typeguard's run-time instrumentation (tasks/features/feast_import.py):
Feast's objects are the plain ones, typeguard is left as it was for every other library, and
Feast still decorates with typeguard (if an upgrade stops, the workaround can go)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    "imports",
    [
        "import gameline.feature_repo.definitions",  # `feast apply` by hand
        "from gameline.tasks.features.store import import_feast; import_feast()",  # the pipeline
    ],
)
def test_feast_imported_by_gameline_is_not_instrumented_and_typeguard_is_restored(
    imports: str,
) -> None:
    assert imported(imports) == "True False"


def typeguard_decorated_classes(module: str) -> set[str]:
    """The classes of an installed Feast module decorated with typeguard's `typechecked`, read
    from its source: whether Feast still uses typeguard the way the workaround expects
    (`from typeguard import typechecked` at import, then `@typechecked`), without the three
    seconds of importing Feast with typeguard's instrumentation in a fresh interpreter."""
    spec = importlib.util.find_spec("feast")  # a top-level package: found, not imported
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).with_name(f"{module}.py").read_text(encoding="utf-8"))
    imports_it = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "typeguard"
        and any(alias.name == "typechecked" for alias in node.names)
        for node in tree.body
    )
    return {
        node.name
        for node in tree.body
        if imports_it
        and isinstance(node, ast.ClassDef)
        and any(isinstance(d, ast.Name) and d.id == "typechecked" for d in node.decorator_list)
    }


def test_feast_still_decorates_its_objects_with_typeguard() -> None:
    assert "FeatureView" in typeguard_decorated_classes("feature_view")
    assert "Entity" in typeguard_decorated_classes("entity")
