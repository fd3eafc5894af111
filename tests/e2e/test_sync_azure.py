"""Sync from Azure Key Vault (the local Key Vault emulator, authentication on) into
Secrets of the real apiserver."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from scaivault_devenv.keyvault import KeyVaultServer
from tests.backends.harness_azure import put_value

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e

BLOB = bytes(range(256))


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


async def azure_backend(
    cluster: Cluster, server: KeyVaultServer, name: str, prefix: str, client_secret: str
) -> None:
    await cluster.put_credentials("creds-azure", {"client_secret": client_secret})
    await cluster.create_backend(
        name,
        {
            "type": "azure-key-vault",
            "config": {
                "vaultUrl": server.vault_url,
                "tenantId": server.tenant_id,
                "clientId": server.client_id,
                "credentialsPath": "creds/azure",
            },
            "pathMapping": {"external/azure/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )


async def test_multi_segment_paths_sync_into_secrets(
    cluster: Cluster,
    keyvault_server: KeyVaultServer,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    put_value(keyvault_server, f"{prefix}/payments/db", {"username": "app", "password": "pw-1"})
    put_value(keyvault_server, f"{prefix}/api-token", "plain-token-1")
    put_value(keyvault_server, f"{prefix}/web/tls/bundle", BLOB)
    put_value(keyvault_server, f"{prefix}/payments/old", "retired", enabled=False)
    put_value(keyvault_server, f"other/{prefix}/decoy", "not under the mapping")
    await azure_backend(cluster, keyvault_server, "azure-a", prefix, keyvault_server.client_secret)

    status = await cluster.wait_status("azure-a", healthy)
    assert status["secretsSynced"] == 3
    assert status["connection"]["status"] == "connected"

    db = await cluster.secret("external-azure-payments-db")
    assert db is not None and decoded(db) == {"username": "app", "password": "pw-1"}
    annotations = db["metadata"]["annotations"]
    assert annotations["federation.scaivault.io/path"] == "external/azure/payments/db"
    assert annotations["federation.scaivault.io/remote-path"] == f"{prefix}/payments/db"
    token = await cluster.secret("external-azure-api-token")
    assert token is not None and decoded(token) == {"value": "plain-token-1"}
    bundle = await cluster.secret("external-azure-web-tls-bundle")
    assert bundle is not None
    assert base64.b64decode(bundle["data"]["value"]) == BLOB
    assert await cluster.secret("external-azure-payments-old") is None

    selector = "federation.scaivault.io/backend=azure-a"
    before = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets(selector)
    }
    put_value(keyvault_server, f"{prefix}/api-token", "plain-token-2")
    await cluster.sync_now("azure-a")
    after = {s["metadata"]["name"]: s for s in await cluster.secrets(selector)}
    moved = sorted(n for n, s in after.items() if s["metadata"]["resourceVersion"] != before[n])
    assert moved == ["external-azure-api-token"]
    assert decoded(after["external-azure-api-token"]) == {"value": "plain-token-2"}


async def test_a_wrong_client_secret_is_an_error_and_writes_nothing(
    cluster: Cluster,
    keyvault_server: KeyVaultServer,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    put_value(keyvault_server, f"{prefix}/x", "1")
    await azure_backend(cluster, keyvault_server, "azure-bad", prefix, "wrong-azure-secret-canary")
    status = await cluster.wait_status("azure-bad", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed"
    assert "wrong-azure-secret-canary" not in str(status)
    assert await cluster.secrets("federation.scaivault.io/backend=azure-bad") == []
