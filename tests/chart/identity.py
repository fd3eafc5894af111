"""Acting as the chart's ServiceAccount: a TokenRequest token, a kubeconfig, reviews."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.api.auth import TOKEN_AUDIENCE


def request_token(
    cp: ControlPlane, namespace: str, service_account: str, audience: str | None = None
) -> str:
    """A bound token of the ServiceAccount, as the kubelet would project it: for the
    apiserver, or for ``audience`` (the API's, :data:`TOKEN_AUDIENCE`, to call the API)."""
    spec: dict[str, Any] = {"expirationSeconds": 3600}
    if audience is not None:
        spec["audiences"] = [audience]
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    status, doc = cp.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token", body
    )
    if status != 201:
        raise RuntimeError(f"TokenRequest for {namespace}/{service_account}: {status} {doc}")
    token: str = doc["status"]["token"]
    return token


def api_admin_token(cp: ControlPlane, namespace: str) -> str:
    """A token for the API's audience of a new ServiceAccount in ``namespace`` bound to
    ``cluster-admin``: a caller of the API that may do everything (the apiserver's own
    admin token is not issued for the API's audience, so the API refuses it)."""
    name = f"api-admin-{uuid.uuid4().hex[:6]}"
    for path, body in (
        (
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{namespace}-{name}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ),
    ):
        status, doc = cp.request("POST", path, body)
        if status != 201:
            raise RuntimeError(f"POST {path}: {status} {doc}")
    return request_token(cp, namespace, name, TOKEN_AUDIENCE)


def write_kubeconfig(
    path: Path, server: str, token: str, *, ca_file: Path | None, namespace: str
) -> Path:
    """A kubeconfig that authenticates with ``token`` only (no client certificate)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_file is not None and server.startswith("https:"):
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "service-account", "user": {"token": token}}],
        "contexts": [
            {
                "name": "test",
                "context": {"cluster": "test", "user": "service-account", "namespace": namespace},
            }
        ],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def service_account_kubeconfig(
    cp: ControlPlane, namespace: str, service_account: str, path: Path
) -> Path:
    """A kubeconfig acting as the ServiceAccount, with a fresh token of it."""
    token = request_token(cp, namespace, service_account)
    return write_kubeconfig(path, cp.server, token, ca_file=cp.ca_file, namespace=namespace)


def who_am_i(cp: ControlPlane, token: str) -> str:
    """The username the apiserver authenticates ``token`` as (SelfSubjectReview)."""
    status, doc = cp.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        token=token,
    )
    if status != 201:
        raise RuntimeError(f"SelfSubjectReview: {status} {doc}")
    username: str = doc["status"]["userInfo"]["username"]
    return username


def can(
    cp: ControlPlane,
    user: str,
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str | None = None,
    subresource: str = "",
    name: str = "",
    groups: tuple[str, ...] = ("system:serviceaccounts", "system:authenticated"),
) -> bool:
    """SubjectAccessReview (as the admin) of one action by ``user`` (on the object
    ``name`` when given)."""
    attributes: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
    if namespace is not None:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    if subresource:
        attributes["subresource"] = subresource
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
    }
    status, doc = cp.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
    if status != 201:
        raise RuntimeError(f"SubjectAccessReview: {status} {doc}")
    return bool(doc["status"].get("allowed"))
