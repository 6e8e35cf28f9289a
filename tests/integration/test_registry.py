"""The MLflow adapter on real local stores: scoped tracking URIs, one client, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameline.tasks.registry.mlflow_registry import Registry, RegistryError

pytestmark = pytest.mark.integration


def registry(folder: Path, name: str) -> Registry:
    return Registry(
        tracking_uri=f"sqlite:///{folder / f'{name}.db'}",
        model_name=f"model-{name}",
        experiment=f"experiment-{name}",
        artifact_location=(folder / f"artifacts-{name}").as_uri(),
        lock_path=folder / f"{name}.lock",
    )


def test_two_registries_in_one_process_do_not_mix(tmp_path: Path) -> None:
    """The adapter points MLflow's fluent API at its own store only while it works (MLflow's
    private `_use_tracking_uri`, which this fails on if an upgrade removes it); the process-wide
    tracking URI is left as it was."""
    import mlflow

    before = mlflow.get_tracking_uri()
    a, b = registry(tmp_path, "a"), registry(tmp_path, "b")
    with a.run("first") as run_id:
        a.log(params={"x": 1}, metrics={"loss": 0.5}, tags={"kind": "test"})
    assert mlflow.get_tracking_uri() == before
    assert a.search_runs()["run_id"].tolist() == [run_id]
    assert b.search_runs().empty
    assert a.run_data(run_id).params == {"x": "1"}
    assert a.client is a.client  # one client per registry
    with pytest.raises(RegistryError, match="model-b has no version 1"):
        b.version_tags("1")
    assert a.alias_version("champion") is None
