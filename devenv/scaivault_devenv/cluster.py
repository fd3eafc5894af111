"""Preparing a fresh cluster: the CRDs from ``crds/`` and namespaces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from .checkout import ROOT
from .controlplane import ControlPlane

CRD_NAME = "federationbackends.federation.scaivault.io"
CLUSTER_CRD_NAME = "clusterfederationbackends.federation.scaivault.io"
#: the CRDs and the collection each serves, once established
CRDS = {
    CRD_NAME: "/apis/federation.scaivault.io/v1alpha1/federationbackends",
    CLUSTER_CRD_NAME: "/apis/federation.scaivault.io/v1alpha1/clusterfederationbackends",
    "federationleases.federation.scaivault.io": (
        "/apis/federation.scaivault.io/v1alpha1/federationleases"
    ),
    "federationcertificates.federation.scaivault.io": (
        "/apis/federation.scaivault.io/v1alpha1/federationcertificates"
    ),
}


def crd_file(name: str = CRD_NAME) -> Path:
    """A canonical CRD: in the checkout, or shipped inside the package."""
    for candidate in (
        ROOT / "crds" / f"{name}.yaml",
        Path(__file__).resolve().parent / "crds" / f"{name}.yaml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name}.yaml not found next to the package")


def apply(cp: ControlPlane, collection: str, obj: dict[str, Any]) -> None:
    """Create ``obj`` in ``collection`` (a list URL), or replace it if it exists."""
    status, body = cp.request("POST", collection, obj)
    if status == 409:
        name = obj["metadata"]["name"]
        status, current = cp.request("GET", f"{collection}/{name}")
        obj = {
            **obj,
            "metadata": {
                **obj["metadata"],
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
        }
        status, body = cp.request("PUT", f"{collection}/{name}", obj)
    if status >= 300:
        raise RuntimeError(
            f"applying {obj['kind']} {obj['metadata']['name']}: {status} {body.get('message')}"
        )


def install_crd(cp: ControlPlane, timeout: float = 30) -> None:
    """Every CRD (the backends' and the leasing kinds'), once established."""
    for name in CRDS:
        crd = yaml.safe_load(crd_file(name).read_text())
        apply(cp, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    for name, collection in CRDS.items():
        _wait_established(cp, name, collection, timeout)


def _wait_established(cp: ControlPlane, name: str, collection: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = cp.request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        conditions = (body.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            # the discovery document lags a little behind Established
            status, _ = cp.request("GET", collection)
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"CRD {name} was not established within {timeout}s")


def ensure_namespace(cp: ControlPlane, name: str) -> None:
    status, body = cp.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    if status not in (201, 409):
        raise RuntimeError(f"creating namespace {name}: {status} {body.get('message')}")


def ensure_service_account(
    cp: ControlPlane, namespace: str, name: str, annotations: dict[str, str] | None = None
) -> None:
    """The ServiceAccount ``namespace/name`` (and its namespace), with ``annotations``."""
    ensure_namespace(cp, namespace)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}
    apply(cp, f"/api/v1/namespaces/{namespace}/serviceaccounts", account)


def service_account_token(
    cp: ControlPlane, namespace: str, name: str, audiences: list[str], seconds: int = 600
) -> str:
    """A token for the ServiceAccount from the TokenRequest API, bound to ``audiences``
    (the apiserver's own when empty); 600 s is the shortest lifetime it grants."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": audiences, "expirationSeconds": seconds},
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    status, body = cp.request("POST", path, request)
    if status != 201:
        raise RuntimeError(f"TokenRequest for {namespace}/{name}: {status} {body.get('message')}")
    return str(body["status"]["token"])
