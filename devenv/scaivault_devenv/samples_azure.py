"""Example Azure Key Vault data and the sample ``azure-dev`` backend, for ``dev``.

The operator that syncs the sample must run with ``server.client_env()`` in its
environment (the CA bundle and the authority host of the emulator).
"""

from __future__ import annotations

import base64
from typing import Any

from scaivault_federation.backends.azure.backend import BINARY_CONTENT_TYPE
from scaivault_federation.backends.azure.names import azure_name
from scaivault_federation.paths import secret_name_for_path

from .cluster import apply
from .controlplane import ControlPlane
from .keyvault import KeyVaultServer
from .samples import SECRETS, _credentials_secret, apply_sample_backend

# backend path -> (value, content type)
AZURE_EXAMPLES: dict[str, tuple[str, str | None]] = {
    "apps/payments/db": (
        '{"username": "payments", "password": "dev-only-payments-pw"}',
        "application/json",
    ),
    "apps/payments/api-token": ("dev-only-api-token", None),
    "apps/web/tls-bundle": (base64.b64encode(bytes(range(256))).decode(), BINARY_CONTENT_TYPE),
}
SAMPLE_BACKEND = "azure-dev"
CREDENTIALS_PATH = "dev/azure/client"
CREDENTIALS_SECRET = secret_name_for_path(CREDENTIALS_PATH)


def seed_azure(cp: ControlPlane, server: KeyVaultServer) -> dict[str, Any]:
    """Write the example secrets (named by the Key Vault naming rule) and create the
    sample backend and its client-secret Secret."""
    client = server.secret_client()
    try:
        for path, (value, content_type) in AZURE_EXAMPLES.items():
            client.set_secret(azure_name(path), value, content_type=content_type)
    finally:
        client.close()
    apply(
        cp,
        SECRETS,
        _credentials_secret(CREDENTIALS_SECRET, {"client_secret": server.client_secret}),
    )
    apply_sample_backend(
        cp,
        SAMPLE_BACKEND,
        "azure-key-vault",
        {
            "vaultUrl": server.vault_url,
            "tenantId": server.tenant_id,
            "clientId": server.client_id,
            "credentialsPath": CREDENTIALS_PATH,
        },
        {"external/azure/**": "apps/**"},
    )
    return {
        "endpoint": server.vault_url,
        "vault_url": server.vault_url,
        "tenant_id": server.tenant_id,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "authority_host": server.authority_host,
        "ca_bundle": str(server.ca_bundle),
        "sample_backend": SAMPLE_BACKEND,
    }
