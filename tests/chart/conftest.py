"""Chart fixtures: the helm and kubectl binaries, and the default render."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaivault_federation.dev.cluster import ensure_namespace
from scaivault_federation.dev.controlplane import ControlPlane

from .tools import CHART, find_helm, find_kubectl, render, run


@pytest.fixture(scope="session")
def helm() -> Path:
    return find_helm()


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return find_kubectl()


@pytest.fixture(scope="session")
def default_docs(helm: Path) -> list[dict[str, Any]]:
    return render(helm)


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


@pytest.fixture(scope="module")
def release_factory(
    helm: Path, control_plane: ControlPlane
) -> Iterator[Any]:
    """Installs releases in fresh namespaces; uninstalls them after the module."""
    made: list[Release] = []

    def make(prefix: str, *extra: str, namespaces: tuple[str, ...] = ()) -> Release:
        suffix = uuid.uuid4().hex[:6]
        for namespace in namespaces:
            ensure_namespace(control_plane, namespace)
        release = Release(helm, control_plane, f"{prefix}{suffix}", f"sf-{prefix}{suffix}")
        made.append(release)
        release.install(*extra)
        return release

    yield make
    for release in made:
        release.uninstall()
