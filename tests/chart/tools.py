"""Where the chart tests find helm and kubectl, and small wrappers to run them.

helm is taken from ``$SCAIVAULT_HELM`` (the helm binary, or the folder holding
it) or built by the checkout's ``hack/build-tools.sh`` (a no-op once built),
the same way the control plane binaries are found by
:mod:`scaivault_devenv.binaries`. kubectl is the one built with the
control plane.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from scaivault_devenv.binaries import ControlPlaneError, find_binaries
from scaivault_devenv.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "scaivault-federation"
DEPLOY = ROOT / "deploy"
HELM_ENV = "SCAIVAULT_HELM"
BUILD_SCRIPT = ROOT / "hack" / "build-tools.sh"

# The default render that deploy/ holds: release name and namespace.
RELEASE = "scaivault-federation"
NAMESPACE = "scaivault-system"


class ToolError(RuntimeError):
    """A tool is missing, or exited non-zero."""


def find_helm() -> Path:
    value = os.environ.get(HELM_ENV)
    if value:
        path = Path(value)
        helm = path / "helm" if path.is_dir() else path
        if not os.access(helm, os.X_OK):
            raise ToolError(f"${HELM_ENV} points to {value}, which is no executable helm")
        return helm
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, cwd=ROOT, check=False, text=True
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ToolError(
            f"{BUILD_SCRIPT} failed (exit code {result.returncode}); it needs Go to build "
            f"helm. Alternatively set ${HELM_ENV} to a helm binary."
        )
    return Path(lines[-1]) / "helm"


def find_kubectl() -> Path:
    kubectl = find_binaries().kubectl
    if kubectl is None:
        raise ControlPlaneError("no kubectl next to etcd and kube-apiserver")
    return kubectl


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


def render(helm: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """The rendered objects (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(render_text(helm, **kwargs)) if doc]


def yaml_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]


class Release:
    """A chart release installed with ``helm install`` into the test apiserver."""

    def __init__(self, helm: Path, cp: ControlPlane, name: str, namespace: str) -> None:
        self.helm = helm
        self.cp = cp
        self.name = name
        self.namespace = namespace
        self.fullname = f"{name}-scaivault-federation"

    def install(self, *extra: str) -> str:
        return run(
            [
                self.helm, "install", self.name, CHART,
                "--namespace", self.namespace, "--create-namespace",
                "--kubeconfig", self.cp.kubeconfig, *extra,
            ]
        )  # fmt: skip

    def uninstall(self) -> None:
        run(
            [
                self.helm, "uninstall", self.name, "--namespace", self.namespace,
                "--kubeconfig", self.cp.kubeconfig,
            ],
            check=False,
        )  # fmt: skip
        self.cp.request("DELETE", f"/api/v1/namespaces/{self.namespace}")

    def get(self, path: str) -> dict[str, Any]:
        status, body = self.cp.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body.get('message')}")
        return body
