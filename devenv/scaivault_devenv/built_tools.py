"""Tools the checkout builds for itself (helm, promtool): taken from an environment
variable naming the binary or the folder holding it, or built by the checkout's
``hack/`` script, which prints the folder (a no-op once built)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .checkout import ROOT


class ToolError(RuntimeError):
    """A tool is missing, or exited non-zero."""


def find_built(name: str, env: str, script: Path) -> Path:
    """The ``name`` binary: from ``$env``, else built by ``script``."""
    value = os.environ.get(env)
    if value:
        path = Path(value)
        binary = path / name if path.is_dir() else path
        if not os.access(binary, os.X_OK):
            raise ToolError(f"${env} points to {value}, which is no executable {name}")
        return binary
    if not script.is_file():
        raise ToolError(f"no {script} (not a source checkout): set ${env} to {name}")
    result = subprocess.run(
        ["bash", str(script)], stdout=subprocess.PIPE, cwd=ROOT, check=False, text=True
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ToolError(
            f"{script} failed (exit code {result.returncode}); it needs Go to build "
            f"{name}. Alternatively set ${env} to a {name} binary."
        )
    return Path(lines[-1]) / name
