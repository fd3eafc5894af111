"""Preparing a fresh cluster: the CRD from ``crds/`` and namespaces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from .checkout import ROOT
from .controlplane import ControlPlane

CRD_NAME = "federationbackends.federation.scaivault.io"


def crd_file() -> Path:
    """The canonical CRD: in the checkout, or shipped inside the package."""
    for candidate in (
        ROOT / "crds" / f"{CRD_NAME}.yaml",
        Path(__file__).resolve().parent / "crds" / f"{CRD_NAME}.yaml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{CRD_NAME}.yaml not found next to the package")


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
    crd = yaml.safe_load(crd_file().read_text())
    apply(cp, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = cp.request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
        )
        conditions = (body.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            # the discovery document lags a little behind Established
            status, _ = cp.request(
                "GET", "/apis/federation.scaivault.io/v1alpha1/federationbackends"
            )
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"CRD {CRD_NAME} was not established within {timeout}s")


def ensure_namespace(cp: ControlPlane, name: str) -> None:
    status, body = cp.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    if status not in (201, 409):
        raise RuntimeError(f"creating namespace {name}: {status} {body.get('message')}")
