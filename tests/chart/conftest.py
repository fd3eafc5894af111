"""Chart fixtures: the helm and kubectl binaries, and the default render."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.helm import find_helm

from .tools import Release, find_kubectl, render


@pytest.fixture(scope="session")
def helm() -> Path:
    return find_helm()


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return find_kubectl()


@pytest.fixture(scope="session")
def default_docs(helm: Path) -> list[dict[str, Any]]:
    return render(helm)


@pytest.fixture(scope="session")
def isolated_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of the chart's RBAC tests alone.

    Other test packages run an operator with admin rights against the shared
    ``control_plane``; it would handle these tests' FederationBackends too.
    """
    with ControlPlane(tmp_path_factory.mktemp("rbac-controlplane")) as cp:
        yield cp


@pytest.fixture(scope="module")
def release_factory(helm: Path, isolated_control_plane: ControlPlane) -> Iterator[Any]:
    """Installs releases into the isolated control plane; uninstalls them after the module."""
    made: list[Release] = []

    def make(prefix: str, *extra: str) -> Release:
        suffix = uuid.uuid4().hex[:6]
        name = f"{prefix}{suffix}"
        release = Release(helm, isolated_control_plane, name, f"sf-{name}")
        made.append(release)
        release.install(*extra)
        return release

    yield make
    for release in made:
        release.uninstall()
