"""Set up OpenBao's kubernetes auth method against a test control plane.

OpenBao reviews login tokens with the apiserver's TokenReview, using a reviewer
ServiceAccount bound to ``system:auth-delegator``; a role binds the given
ServiceAccount of one namespace to a policy reading ``secret/<prefix>/``.
"""

from __future__ import annotations

import uuid
from typing import Any

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer

ROLE = "sync"


def _admin(cp: ControlPlane, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = cp.request(method, path, body)
    assert status in (200, 201, 409), (path, status, answer)
    return answer


def create_service_account(cp: ControlPlane, namespace: str, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    _admin(cp, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", body)


def configure_kubernetes_auth(
    bao: OpenBaoServer, cp: ControlPlane, namespace: str, bound_account: str, prefix: str
) -> str:
    """Returns the auth mount; the role is :data:`ROLE`."""
    create_service_account(cp, namespace, "vault-reviewer")
    _admin(
        cp,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{namespace}-vault-reviewer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": namespace}
            ],
        },
    )
    issued = _admin(
        cp,
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/vault-reviewer/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    status = issued["status"]
    assert isinstance(status, dict)
    mount = f"k8s-{uuid.uuid4().hex[:8]}"
    bao.request("POST", f"/v1/sys/auth/{mount}", {"type": "kubernetes"})
    bao.request(
        "POST",
        f"/v1/auth/{mount}/config",
        {
            "kubernetes_host": cp.server,
            "kubernetes_ca_cert": cp.ca_file.read_text(),
            "token_reviewer_jwt": status["token"],
        },
    )
    policy = f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}\n'
    policy += f'path "secret/metadata/{prefix}/*" {{ capabilities = ["list", "read"] }}\n'
    bao.request("PUT", f"/v1/sys/policies/acl/{mount}", {"policy": policy})
    bao.request(
        "POST",
        f"/v1/auth/{mount}/role/{ROLE}",
        {
            "bound_service_account_names": [bound_account],
            "bound_service_account_namespaces": [namespace],
            "token_policies": [mount],
            "token_ttl": "10m",
        },
    )
    return mount
