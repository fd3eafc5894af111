"""Shared fixtures: the real local servers, started once per test session.

A server that cannot start makes the tests that need it fail, with its log
tail in the error; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaivault_federation.dev.controlplane import ControlPlane
from scaivault_federation.dev.openbao import OpenBaoServer
from tests.backends.harness_aws import moto_server
from tests.backends.harness_azure import keyvault_server
from tests.backends.harness_google import gsm_emulator

__all__ = ["control_plane", "gsm_emulator", "keyvault_server", "moto_server", "openbao"]


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
