"""The Azure Key Vault harness, on the local Key Vault emulator with authentication on."""

from __future__ import annotations

import base64
import json
import math
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.keyvault import KeyVaultServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.azure.auth import AUTHORITY_ENV
from scaivault_federation.backends.azure.backend import BINARY_CONTENT_TYPE, AzureKeyVaultBackend
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.naming import azure_name

from .harness import ValueKind

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 5


def put_value(
    server: KeyVaultServer,
    path: str,
    value: str | bytes | dict[str, str],
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


class AzureHarness:
    backend_type = "azure-key-vault"
    value_kinds: frozenset[ValueKind] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE
    bad_credential = "azure-bad-client-secret-canary-3d9a"

    def __init__(self, server: KeyVaultServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.client = server.secret_client()
        self.opened: list[SecretBackend] = []

    def new_prefix(self) -> str:
        return f"contract-{uuid.uuid4().hex[:10]}/"

    def put(self, path: str, value: str | bytes | dict[str, str]) -> None:
        put_value(self.server, path, value, client=self.client)

    def _make(self, server: KeyVaultServer, secret: str) -> SecretBackend:
        backend = AzureKeyVaultBackend(
            azure_config(server),
            secret_credentials(secret),
            connection_verify=str(server.ca_bundle),
            env={AUTHORITY_ENV: server.authority_host},
            page_size=self.page_size,
        )
        self.opened.append(backend)
        return backend

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        secret = self.bad_credential if bad_credentials else self.server.client_secret
        return self._make(self.server, secret)

    async def stopped_backend(self) -> SecretBackend:
        spare = KeyVaultServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        try:
            backend = self._make(spare, spare.client_secret)
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        # Key Vault has no name filter: a listing pages through the whole vault
        return max(1, math.ceil(self.server.secret_count() / self.page_size))

    def expected_batch_calls(self, paths: int) -> int:
        return paths  # Key Vault has no batch read

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()
        self.client.close()


@pytest.fixture
async def azure_harness(
    keyvault_server: KeyVaultServer, tmp_path: Path
) -> AsyncIterator[AzureHarness]:
    harness = AzureHarness(keyvault_server, tmp_path)
    yield harness
    await harness.close()
