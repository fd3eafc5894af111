"""The Azure Key Vault harness, on the local Key Vault emulator with authentication on."""

from __future__ import annotations

import base64
import json
import math
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scaivault_devenv.keyvault import KeyVaultServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.azure.auth import AUTHORITY_ENV
from scaivault_federation.backends.azure.backend import BINARY_CONTENT_TYPE, AzureKeyVaultBackend
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.azure.names import azure_name

from .harness import Harness, Value, ValueKind, registered

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 5
#: the Retry-After of the throttled answers the harness has the emulator give
THROTTLE_SECONDS = 20


def put_value(
    server: KeyVaultServer,
    path: str,
    value: Value,
    *,
    client: Any = None,
    enabled: bool = True,
    expires_on: datetime | None = None,
    not_before: datetime | None = None,
) -> None:
    """Write ``value`` at backend path ``path`` (a map as JSON, bytes as base64 with the
    ``application/octet-stream`` content type)."""
    content_type: str | None = None
    if isinstance(value, dict):
        text, content_type = json.dumps(value), "application/json"
    elif isinstance(value, bytes):
        text, content_type = base64.b64encode(value).decode(), BINARY_CONTENT_TYPE
    else:
        text = value
    (client or server.secret_client()).set_secret(
        azure_name(path),
        text,
        content_type=content_type,
        enabled=enabled,
        expires_on=expires_on,
        not_before=not_before,
    )


def azure_config(server: KeyVaultServer) -> AzureConfig:
    return AzureConfig(
        vault_url=server.vault_url,
        tenant_id=server.tenant_id,
        client_id=server.client_id,
        credentials_path="dev/azure",
    )


def secret_credentials(secret: str) -> Credentials:
    return Credentials({"client_secret": secret.encode()})


@pytest.fixture(scope="session")
def keyvault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultServer]:
    """The Key Vault emulator, with the environment a process needs to use it (CA bundle
    and authority host) set in ``os.environ`` for the session, so that processes started
    afterwards (the e2e operator) inherit it."""
    server = KeyVaultServer(tmp_path_factory.mktemp("keyvault"))
    server.start()
    saved = {key: os.environ.get(key) for key in server.client_env()}
    os.environ.update(server.client_env())
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@registered
class AzureHarness(Harness[KeyVaultServer]):
    backend_type = "azure-key-vault"
    short = "azure"
    server_fixture = "keyvault_server"
    value_kinds: ClassVar[frozenset[ValueKind]] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE
    throttles = True
    bad_credential = "azure-bad-client-secret-canary-3d9a"

    def __init__(self, server: KeyVaultServer, tmp: Path) -> None:
        super().__init__(server, tmp)
        self.client = server.secret_client()
        self.credential_canary = server.client_secret
        self.throttled = False

    def put(self, path: str, value: Value) -> None:
        put_value(self.server, path, value, client=self.client)

    def switch_off(self, path: str) -> None:
        self.client.update_secret_properties(azure_name(path), enabled=False)

    def expire(self, path: str, days: int) -> datetime | None:
        when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
        props = self.client.update_secret_properties(azure_name(path), expires_on=when)
        held: datetime = props.expires_on
        return held

    def delete(self, path: str) -> None:
        self.client.begin_delete_secret(azure_name(path)).wait()

    async def throttle(self) -> float:
        self.throttled = True
        self.server.inject_faults(429, times=1000, retry_after=THROTTLE_SECONDS)
        return THROTTLE_SECONDS

    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        return {"client_secret": self.bad_credential if bad else self.server.client_secret}

    async def make(self, server: KeyVaultServer, credentials: Credentials) -> SecretBackend:
        return AzureKeyVaultBackend(
            azure_config(server),
            credentials,
            connection_verify=str(server.ca_bundle),
            env={AUTHORITY_ENV: server.authority_host},
            page_size=PAGE_SIZE,
        )

    def spare_server(self) -> KeyVaultServer:
        spare = KeyVaultServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        return spare

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        # Key Vault has no name filter: a listing pages through the whole vault
        return max(1, math.ceil(self.server.secret_count() / PAGE_SIZE))

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return {
            "vaultUrl": self.server.vault_url,
            "tenantId": self.server.tenant_id,
            "clientId": self.server.client_id,
            "credentialsPath": credentials_path,
        }

    @classmethod
    def operator_environment(cls, server: KeyVaultServer) -> dict[str, str]:
        return server.client_env()  # trust the emulator's CA and token endpoint

    async def close(self) -> None:
        await super().close()
        if self.throttled:
            self.server.clear_faults()
        self.client.close()
