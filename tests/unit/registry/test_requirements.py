"""A loaded model's pinned requirements are checked against what is installed (the check MLflow
would make, without its scan of every installed distribution)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from gameline.tasks.registry.mlflow_registry import requirement_mismatches
from gameline.tasks.registry.tracking import PIP_REQUIREMENTS


def test_only_the_pins_this_environment_misses_are_named(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# logged by a newer Gameline\n"
        "-c constraints.txt\n"
        f"pandas=={version('pandas')}\n"
        "lightgbm==0.0.1\n"
        "numpy\n"
        "a-package-nobody-installed==1.0\n"
        'scikit-learn==0.1; python_version < "3"\n'  # not for this Python: not checked
        "\n"
    )
    assert requirement_mismatches(path) == [
        f"lightgbm (installed: {version('lightgbm')}, model: lightgbm==0.0.1)",
        "a-package-nobody-installed (installed: none, model: a-package-nobody-installed==1.0)",
    ]
    assert requirement_mismatches(tmp_path / "absent.txt") == []


def test_what_training_logs_is_met_by_the_locked_environment(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("\n".join(PIP_REQUIREMENTS) + "\n")
    assert requirement_mismatches(path) == []
