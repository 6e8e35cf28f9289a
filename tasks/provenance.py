"""Where a result came from: the package version and the git commit of the code that made it
(manifests, training runs and registered versions carry them)."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def git_commit() -> str | None:
    """The git commit of the code, when run from a checkout (None otherwise)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() or None


def code_version() -> str:
    """The package version, plus the git commit when run from a checkout."""
    try:
        base = version("gameline")
    except PackageNotFoundError:
        base = "0+unknown"
    commit = git_commit()
    return f"{base}+g{commit[:7]}" if commit else base
