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
    create_service_account(control_plane, cluster.namespace, "app-reader", token_for="vault-k8s")
    await cluster.create_backend("vault-k8s", k8s_spec(openbao, mount, "app-reader", "k8s", prefix))
    status = await cluster.wait_status("vault-k8s", lambda s: s.get("status") == "healthy")
    assert status["secretsSynced"] == 1
    secret = await cluster.secret("k8s-db")
    assert secret is not None and decoded(secret) == {"password": "via-k8s"}

    # a ServiceAccount the role does not bind is refused by Vault, and nothing is written
    create_service_account(control_plane, cluster.namespace, "stranger", token_for="*")
    await cluster.create_backend(
        "vault-k8s-stranger", k8s_spec(openbao, mount, "stranger", "other", prefix)
    )
    refused = await cluster.wait_status("vault-k8s-stranger", lambda s: s.get("status") == "error")
    ready = next(c for c in refused["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "AuthenticationFailed"
    assert await cluster.secret("other-db") is None


async def test_no_token_for_an_account_that_did_not_opt_in_or_for_the_apiserver(
    cluster: Cluster, openbao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    prefix = f"k8sauth-{uuid.uuid4().hex[:8]}"
    mount = configure_kubernetes_auth(openbao, control_plane, cluster.namespace, "deployer", prefix)
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "x"}})
    # the role binds the account, but the account never agreed to lend its tokens
    create_service_account(control_plane, cluster.namespace, "deployer")
    create_service_account(control_plane, cluster.namespace, "other", token_for="someone-else")
    for name, account in (("no-opt-in", "deployer"), ("not-for-me", "other")):
        await cluster.create_backend(name, k8s_spec(openbao, mount, account, name, prefix))
        status = await cluster.wait_status(name, lambda s: s.get("status") == "error")
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "ServiceAccountNotOptedIn"
        assert "has not opted in" in ready["message"]
        assert f'federation.scaivault.io/token-for: "{name}"' in ready["message"]
    # an account that opted in, asked for a token the apiserver itself would accept
    create_service_account(control_plane, cluster.namespace, "lender", token_for="*")
    spec = k8s_spec(openbao, mount, "lender", "aud", prefix)
    spec["config"]["audience"] = control_plane.service_account_issuer  # the apiserver's own
    await cluster.create_backend("apiserver-audience", spec)
    status = await cluster.wait_status("apiserver-audience", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    assert "audience of the Kubernetes API" in ready["message"]
    for local in ("no-opt-in-db", "not-for-me-db", "aud-db"):
        assert await cluster.secret(local) is None
