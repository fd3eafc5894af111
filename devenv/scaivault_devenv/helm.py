"""helm, and ``helm template`` of the chart in this checkout.

helm is taken from ``$SCAIVAULT_HELM`` (the helm binary, or the folder holding
it) or built by the checkout's ``hack/build-tools.sh`` (a no-op once built),
the same way :mod:`scaivault_devenv.binaries` finds the control plane.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .built_tools import ToolError as ToolError
from .built_tools import find_built
from .checkout import ROOT

CHART = ROOT / "charts" / "scaivault-federation"
DEPLOY = ROOT / "deploy"
HELM_ENV = "SCAIVAULT_HELM"
BUILD_SCRIPT = ROOT / "hack" / "build-tools.sh"

# The default render that deploy/ holds: release name and namespace.
RELEASE = "scaivault-federation"
NAMESPACE = "scaivault-system"


def find_helm() -> Path:
    return find_built("helm", HELM_ENV, BUILD_SCRIPT)


def run(argv: Sequence[str | Path], *, check: bool = True, timeout: float = 300) -> str:
    """Run a tool; its stdout, or :class:`ToolError` with stderr when it fails."""
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise ToolError(
            f"{Path(str(argv[0])).name} {' '.join(str(a) for a in argv[1:])} "
            f"exited {result.returncode}:\n{result.stderr.strip()}"
        )
    return result.stdout


def render_text(
    helm: Path,
    *,
    values: dict[str, Any] | None = None,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    include_crds: bool = False,
) -> str:
    """``helm template`` of the chart; ``values`` as --set-json, one per top-level key."""
    argv: list[str | Path] = [helm, "template", release, CHART, "--namespace", namespace]
    if include_crds:
        argv.append("--include-crds")
    for key, value in (values or {}).items():
        argv += ["--set-json", f"{key}={yaml_json(value)}"]
    return run(argv)


def yaml_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
