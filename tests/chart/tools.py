"""Chart test helpers: kubectl, rendered objects, and releases installed into the
test apiserver. helm itself and ``helm template`` are :mod:`scaivault_devenv.helm`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scaivault_devenv.binaries import ControlPlaneError, find_binaries
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.helm import CHART, render_text, run

ROOT = Path(__file__).resolve().parents[2]


def find_kubectl() -> Path:
    kubectl = find_binaries().kubectl
    if kubectl is None:
        raise ControlPlaneError("no kubectl next to etcd and kube-apiserver")
    return kubectl


def render(helm: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """The rendered objects (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(render_text(helm, **kwargs)) if doc]


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
