"""Vault kubernetes auth for real: OpenBao reviews, with the test apiserver's TokenReview,
a ServiceAccount token the operator obtained through TokenRequest."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from tests.vault_kubernetes import ROLE, configure_kubernetes_auth, create_service_account

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e


def k8s_spec(
    bao: OpenBaoServer, mount: str, account: str, local: str, prefix: str
) -> dict[str, Any]:
    return {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": bao.address,
            "authMethod": "kubernetes",
            "authMount": mount,
            "role": ROLE,
            "serviceAccount": account,
        },
        "pathMapping": {f"{local}/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "1m",
    }


async def test_kubernetes_auth_logs_in_with_a_requested_token(
    cluster: Cluster, openbao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    prefix = f"k8sauth-{uuid.uuid4().hex[:8]}"
    mount = configure_kubernetes_auth(
        openbao, control_plane, cluster.namespace, "app-reader", prefix
    )
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "via-k8s"}})
    create_service_account(control_plane, cluster.namespace, "app-reader")
    await cluster.create_backend("vault-k8s", k8s_spec(openbao, mount, "app-reader", "k8s", prefix))
    status = await cluster.wait_status("vault-k8s", lambda s: s.get("status") == "healthy")
    assert status["secretsSynced"] == 1
    secret = await cluster.secret("k8s-db")
    assert secret is not None and decoded(secret) == {"password": "via-k8s"}

    # a ServiceAccount the role does not bind is refused by Vault, and nothing is written
    create_service_account(control_plane, cluster.namespace, "stranger")
    await cluster.create_backend(
        "vault-k8s-stranger", k8s_spec(openbao, mount, "stranger", "other", prefix)
    )
    refused = await cluster.wait_status("vault-k8s-stranger", lambda s: s.get("status") == "error")
    ready = next(c for c in refused["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "AuthenticationFailed"
    assert await cluster.secret("other-db") is None
