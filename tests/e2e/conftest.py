"""End-to-end fixtures: the CRD installed, the operator running as its own process,
an async Kubernetes client, and a fresh namespace per test."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scaivault_federation.dev.cluster import ensure_namespace, install_crd
from scaivault_federation.dev.controlplane import ControlPlane
from scaivault_federation.dev.keyvault import KeyVaultServer
from scaivault_federation.dev.processes import ManagedProcess, free_port
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.k8s.config import from_kubeconfig

from .helpers import Cluster

OPERATOR_NAMESPACE = "scaivault-system"
_ports: dict[str, int] = {}


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> None:
    install_crd(control_plane)


@pytest.fixture(scope="session")
def operator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator") / "operator.log"


@pytest.fixture(scope="session")
def operator(
    control_plane: ControlPlane, crd: None, operator_log: Path, keyvault_server: KeyVaultServer
) -> Iterator[ManagedProcess]:
    """``scaivault-federation run`` against the test apiserver, in its own process."""
    ensure_namespace(control_plane, OPERATOR_NAMESPACE)
    env = {
        **os.environ,
        **keyvault_server.client_env(),  # trust the Key Vault emulator's CA and token endpoint
        "KUBECONFIG": str(control_plane.kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": OPERATOR_NAMESPACE,
    }
    _ports["metrics"] = free_port()
    argv = [
        *(sys.executable, "-m", "scaivault_federation.cli", "run", "--standalone", "-v"),
        *("--metrics-port", str(_ports["metrics"]), "--metrics-addr", "127.0.0.1"),
    ]
    proc = ManagedProcess("operator", argv, operator_log, env=env)
    proc.start()
    try:
        proc.wait_until(
            lambda: "Initial authentication has finished" in operator_log.read_text(),
            timeout=60,
            what="the operator to start",
        )
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def operator_metrics_port(operator: ManagedProcess) -> int:
    """Where the running operator serves ``/metrics`` (on 127.0.0.1)."""
    return _ports["metrics"]


@pytest.fixture(scope="session")
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(from_kubeconfig(control_plane.kubeconfig))
    yield client
    await client.close()


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
