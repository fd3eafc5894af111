"""Vault kubernetes auth for real: OpenBao reviews, with the test apiserver's TokenReview,
a ServiceAccount token the operator obtained through TokenRequest."""

from __future__ import annotations

import uuid

import pytest

from scaivault_federation.dev.controlplane import ControlPlane
from scaivault_federation.dev.openbao import OpenBaoServer

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e


async def service_account(cluster: Cluster, name: str) -> None:
    await cluster.kube.post(
        f"/api/v1/namespaces/{cluster.namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )


async def test_kubernetes_auth_logs_in_with_a_requested_token(
    cluster: Cluster, openbao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    ns = cluster.namespace
    # a reviewer identity OpenBao uses to call TokenReview
    await service_account(cluster, "vault-reviewer")
    await cluster.kube.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{ns}-vault-reviewer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": ns}],
        },
    )
    issued = await cluster.kube.post(
        f"/api/v1/namespaces/{ns}/serviceaccounts/vault-reviewer/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    reviewer_jwt = issued["status"]["token"]

    mount = f"k8s-{uuid.uuid4().hex[:8]}"
    prefix = f"k8sauth-{uuid.uuid4().hex[:8]}"
    openbao.request("POST", f"/v1/sys/auth/{mount}", {"type": "kubernetes"})
    openbao.request(
        "POST",
        f"/v1/auth/{mount}/config",
        {
            "kubernetes_host": control_plane.server,
            "kubernetes_ca_cert": control_plane.ca_file.read_text(),
            "token_reviewer_jwt": reviewer_jwt,
        },
    )
    policy = f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}\n'
    policy += f'path "secret/metadata/{prefix}/*" {{ capabilities = ["list", "read"] }}\n'
    openbao.request("PUT", f"/v1/sys/policies/acl/{prefix}", {"policy": policy})
    openbao.request(
        "POST",
        f"/v1/auth/{mount}/role/sync",
        {
            "bound_service_account_names": ["app-reader"],
            "bound_service_account_namespaces": [ns],
            "token_policies": [prefix],
            "token_ttl": "10m",
        },
    )
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "via-k8s"}})

    await service_account(cluster, "app-reader")
    await cluster.create_backend(
        "vault-k8s",
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "kubernetes",
                "authMount": mount,
                "role": "sync",
                "serviceAccount": "app-reader",
            },
            "pathMapping": {"k8s/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1m",
        },
    )
    status = await cluster.wait_status("vault-k8s", lambda s: s.get("status") == "healthy")
    assert status["secretsSynced"] == 1
    secret = await cluster.secret("k8s-db")
    assert secret is not None and decoded(secret) == {"password": "via-k8s"}

    # a ServiceAccount the role does not bind is refused by Vault, and nothing is written
    await service_account(cluster, "stranger")
    await cluster.create_backend(
        "vault-k8s-stranger",
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "kubernetes",
                "authMount": mount,
                "role": "sync",
                "serviceAccount": "stranger",
            },
            "pathMapping": {"other/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1m",
        },
    )
    refused = await cluster.wait_status("vault-k8s-stranger", lambda s: s.get("status") == "error")
    ready = next(c for c in refused["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "AuthenticationFailed"
    assert await cluster.secret("other-db") is None
