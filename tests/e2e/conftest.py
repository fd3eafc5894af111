"""End-to-end fixtures: a fresh namespace per test, and the HTTP API beside the
operator (the CRD, the operator and the Kubernetes client come from the root
conftest)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.server import ApiServer
from scaivault_federation.api.static_tokens import Scope, write_static_tokens
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.settings import Settings
from tests.api_server import started_api

from .helpers import Cluster


@pytest.fixture
async def cluster(kube: KubeClient, operator: ManagedProcess) -> AsyncIterator[Cluster]:
    """A fresh namespace, deleted after the test (with the CRs in it)."""
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    await kube.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    yield Cluster(kube, namespace)
    with contextlib.suppress(NotFoundError):
        await kube.delete(f"/api/v1/namespaces/{namespace}")


@dataclass(frozen=True)
class FederationApi:
    """The HTTP API serving the session's control plane, and tokens for it."""

    server: ApiServer
    url: str
    admin: str  # every scope
    reader: str  # federation:read
    notifier: str  # federation:notify only


@pytest.fixture(scope="package")
async def federation_api(
    control_plane: ControlPlane,
    crd: None,
    operator: ManagedProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FederationApi]:
    """``scaivault-federation api``'s server in this process, next to the operator process,
    with a static token file."""
    folder = tmp_path_factory.mktemp("e2e-api")
    admin, reader, notifier = (f"svf-e2e-{n}-{uuid.uuid4().hex}" for n in ("a", "r", "n"))
    write_static_tokens(
        folder / "tokens.yaml",
        [
            ("admin", admin, list(Scope)),
            ("reader", reader, [Scope.FEDERATION_READ]),
            ("notifier", notifier, [Scope.FEDERATION_NOTIFY]),
        ],
    )
    settings = Settings.load(
        api_host="127.0.0.1",
        api_port=free_port(),
        api_default_namespace="default",
        api_static_tokens=folder / "tokens.yaml",
        kubeconfig=str(control_plane.kubeconfig),
    )
    async with started_api(settings) as server:
        yield FederationApi(server, server.url, admin, reader, notifier)
