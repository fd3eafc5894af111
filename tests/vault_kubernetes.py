"""Set up OpenBao's kubernetes auth method against a test control plane.

OpenBao reviews login tokens with the apiserver's TokenReview, using a reviewer
ServiceAccount bound to ``system:auth-delegator``; a role binds the given
ServiceAccount of one namespace, with tokens for the audience ``vault`` (the
operator's default), to a policy reading ``secret/<prefix>/``.
"""

from __future__ import annotations

import uuid
from typing import Any

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.backends.vault.config import DEFAULT_AUDIENCE
from scaivault_federation.labels import TOKEN_FOR_ANNOTATION

ROLE = "sync"


def _admin(cp: ControlPlane, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = cp.request(method, path, body)
    assert status in (200, 201, 409), (path, status, answer)
    return answer


def create_service_account(
    cp: ControlPlane, namespace: str, name: str, token_for: str | None = None
) -> None:
    """A ServiceAccount; ``token_for``: the backends that may request its tokens (the
    opt-in annotation's value, e.g. ``"*"``)."""
    metadata: dict[str, Any] = {"name": name}
    if token_for is not None:
        metadata["annotations"] = {TOKEN_FOR_ANNOTATION: token_for}
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}
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
            "audience": DEFAULT_AUDIENCE,  # what the operator's tokens are bound to
            "token_policies": [mount],
            "token_ttl": "10m",
        },
    )
    return mount
