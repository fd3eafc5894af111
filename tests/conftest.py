"""Shared fixtures: the real local servers, the CRD and the operator, started once
per test session and shared by every folder (one operator, never two racing).

A server that cannot start makes the tests that need it fail, with its log
tail in the error; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from tests.e2e.fleet import Fleet
from tests.e2e.operator_process import start_operator

# the suites' ``harness`` fixture, and each backend type's harness and server fixture
pytest_plugins = [
    "tests.backends.harness",
    *(
        f"tests.backends.{p.stem}"
        for p in sorted(Path(__file__).parent.glob("backends/harness_*.py"))
    ),
]

OPERATOR_NAMESPACE = "scaivault-system"
AMBIENT_NAMESPACE = "tenancy-ambient-allowed"
_ports: dict[str, int] = {}


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with RBAC, an admin token and a kubeconfig."""
    with ControlPlane(tmp_path_factory.mktemp("controlplane")) as cp:
        yield cp


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """An OpenBao dev server (root token "root", KV v2 at secret/)."""
    with OpenBaoServer(tmp_path_factory.mktemp("openbao")) as server:
        yield server


@pytest.fixture(scope="session")
def openbao_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """An OpenBao dev server on https with a throwaway CA (``ca_file``), for cert auth."""
    with OpenBaoServer(tmp_path_factory.mktemp("openbao-tls"), tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> None:
    install_crd(control_plane)


@pytest.fixture(scope="session")
def operator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator") / "operator.log"


@pytest.fixture(scope="session")
def operator(
    control_plane: ControlPlane,
    crd: None,
    operator_log: Path,
    operator_environment: dict[str, str],
) -> Iterator[ManagedProcess]:
    """``scaivault-federation run`` against the test apiserver, in its own process."""
    ensure_namespace(control_plane, OPERATOR_NAMESPACE)
    env = {
        **os.environ,
        # what each backend type needs: the emulators' CAs and token endpoints, and the
        # operator's "own" cloud identity, usable only in the operator's namespace and
        # the one namespace the tenancy tests allow
        **operator_environment,
        "KUBECONFIG": str(control_plane.kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": OPERATOR_NAMESPACE,
        "SCAIVAULT_AMBIENT_IDENTITY_NAMESPACES": AMBIENT_NAMESPACE,
        # moto on loopback stands in for the cloud's own endpoint there
        "SCAIVAULT_AMBIENT_IDENTITY_ENDPOINTS": "127.0.0.1",
    }
    _ports["metrics"] = free_port()
    flags = ("--metrics-port", str(_ports["metrics"]), "--metrics-addr", "127.0.0.1")
    proc = start_operator("operator", operator_log, env, *flags)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def operator_metrics_port(operator: ManagedProcess) -> int:
    """Where the running operator serves ``/metrics`` (on 127.0.0.1)."""
    return _ports["metrics"]


@pytest.fixture
async def fleet(kube: KubeClient, operator: ManagedProcess) -> AsyncIterator[Fleet]:
    """Namespaces, labelled for a cluster backend or not, and the credentials in the
    operator's namespace, made for one test and deleted afterwards."""
    made = Fleet(kube, OPERATOR_NAMESPACE)
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture(scope="session")
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(control_plane.kubeconfig))
    yield client
    await client.close()
