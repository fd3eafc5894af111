"""Example data and one sample FederationBackend per backend type, for ``dev``."""

from __future__ import annotations

import base64
from typing import Any

from scaivault_federation.labels import credentials_labels

from .cluster import apply
from .controlplane import ControlPlane
from .openbao import OpenBaoServer

SYSTEM_NAMESPACE = "scaivault-system"
SAMPLE_NAMESPACE = "scaivault-dev"
BACKENDS = (
    f"/apis/federation.scaivault.io/v1alpha1/namespaces/{SAMPLE_NAMESPACE}/federationbackends"
)
SECRETS = f"/api/v1/namespaces/{SAMPLE_NAMESPACE}/secrets"

VAULT_EXAMPLES: dict[str, dict[str, str]] = {
    "apps/payments/db": {"username": "payments", "password": "dev-only-payments-pw"},
    "apps/payments/stripe": {"api_key": "sk_test_dev_only"},
    "apps/web/session": {"signing_key": "dev-only-session-key"},
}


def _credentials_secret(name: str, values: dict[str, str]) -> dict[str, Any]:
    """A credentials Secret: labelled, so that backends may read it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": credentials_labels()},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def apply_sample_backend(
    cp: ControlPlane,
    name: str,
    backend_type: str,
    config: dict[str, Any],
    mapping: dict[str, str],
) -> None:
    """A sync-mode sample FederationBackend in the sample namespace."""
    spec = {
        "type": backend_type,
        "config": config,
        "pathMapping": mapping,
        "mode": "sync",
        "syncInterval": "30s",
    }
    apply(
        cp,
        BACKENDS,
        {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def seed_vault(cp: ControlPlane, bao: OpenBaoServer) -> dict[str, Any]:
    for path, data in VAULT_EXAMPLES.items():
        bao.request("POST", f"/v1/secret/data/{path}", {"data": data})
    apply(cp, SECRETS, _credentials_secret("dev-hashicorp-token", {"token": bao.root_token}))
    name = "hashicorp-dev"
    apply_sample_backend(
        cp,
        name,
        "hashicorp-vault",
        {
            "endpoint": bao.address,
            "authMethod": "token",
            "authConfigPath": "dev/hashicorp/token",
        },
        {"external/hashicorp/**": "secret/data/apps/**"},
    )
    return {"endpoint": bao.address, "root_token": bao.root_token, "sample_backend": name}
