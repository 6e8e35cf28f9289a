"""The package's shape: installed names, and which modules may touch which external system."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.builders import REPO

FOLDERS = {
    "tasks": "gameline.tasks",
    "flows": "gameline.flows",
    "feature_repo": "gameline.feature_repo",
}
# The only modules of tasks/ that may import each external system's client library.
ADAPTERS = {
    "mlflow": {"tasks/registry/mlflow_registry.py", "tasks/model/pyfunc.py"},
    "feast": {"tasks/features/store.py"},
    "prefect": set(),
    "psycopg": {"tasks/registry/mlflow_registry.py", "tasks/backends.py", "tasks/records.py"},
    "evidently": {"tasks/monitoring/drift.py"},
    "apprise": {"tasks/monitoring/notify.py"},
    "great_expectations": {"tasks/data/expectations.py"},
}


def imported_roots(path: Path) -> set[str]:
    """Top-level names a module imports (anywhere in it, function bodies included)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_package_folder_installs_under_gameline() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()}
    found = {
        FOLDERS[init.relative_to(REPO).parts[0]]
        + "".join(f".{part}" for part in init.relative_to(REPO).parent.parts[1:])
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert found == listed, "pyproject's [tool.setuptools] packages must list every subpackage"
    assert not any(name.split(".")[0] in FOLDERS for name in listed)  # no top-level `tasks`


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_only_the_adapters_import_external_clients(library: str) -> None:
    importers = {
        str(path.relative_to(REPO))
        for path in (REPO / "tasks").rglob("*.py")
        if library in imported_roots(path)
    }
    assert importers <= ADAPTERS[library], f"{library} imported outside its adapter"


def test_nothing_imports_the_old_top_level_names() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("tasks", "flows", "feature_repo", "tests", "bench")
        for path in (REPO / folder).rglob("*.py")
        if imported_roots(path) & set(FOLDERS)
    ]
    assert offenders == []


def test_the_kubernetes_job_template_declares_what_it_uses_and_keeps_no_state_in_the_pod() -> None:
    """deployments/kubernetes/base-job-template.json: every placeholder is a declared variable
    (what a Prefect server checks when the pool is created), and rendered with its defaults it
    is a Job whose container runs the Gameline image, reads the secrets from a Kubernetes
    Secret and mounts the shared state volume; the image installs from requirements.lock."""
    import json

    from prefect.utilities.templating import apply_values, find_placeholders

    template = json.loads((REPO / "deployments/kubernetes/base-job-template.json").read_text())
    variables = template["variables"]["properties"]
    used = {p.name for p in find_placeholders(template["job_configuration"])}
    assert used <= set(variables), used - set(variables)
    defaults = {name: v["default"] for name, v in variables.items() if "default" in v}
    job = apply_values(template["job_configuration"], defaults, remove_notset=True)["job_manifest"]
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert job["kind"] == "Job" and container["image"] == "gameline:latest"
    assert container["envFrom"] == [{"secretRef": {"name": "gameline-secrets", "optional": True}}]
    [mount] = container["volumeMounts"]
    [volume] = pod["volumes"]
    assert mount == {"name": volume["name"], "mountPath": "/state"}
    assert volume["persistentVolumeClaim"] == {"claimName": "gameline-state"}
    dockerfile = (REPO / "deployments/Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile
    assert "pip install --no-deps -e ." in dockerfile
