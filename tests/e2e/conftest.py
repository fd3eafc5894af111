"""End-to-end fixtures: a fresh namespace per test (the CRD, the operator and the
Kubernetes client come from the root conftest)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.k8s.client import KubeClient, NotFoundError

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
