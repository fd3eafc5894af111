"""One contract harness per backend type, each on its real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.backends.vault.config import VaultConfig

from .harness import Harness, ValueKind
from .harness_aws import aws_harness  # noqa: F401
from .harness_azure import azure_harness  # noqa: F401
from .harness_google import google_harness  # noqa: F401


class VaultHarness:
    backend_type = "hashicorp-vault"
    value_kinds: frozenset[ValueKind] = frozenset({"json"})
    page_size = None
    bad_credential = "s.bad-credential-canary-7c1f"

    def __init__(self, server: OpenBaoServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.opened: list[SecretBackend] = []

    def new_prefix(self) -> str:
        return f"secret/data/contract-{uuid.uuid4().hex[:10]}/"

    def put(self, path: str, value: str | bytes | dict[str, str]) -> None:
        assert isinstance(value, dict), "Vault KV holds maps only"
        sub = path.removeprefix("secret/data/")
        self.server.request("POST", f"/v1/secret/data/{sub}", {"data": value})

    async def _make(self, address: str, token: str) -> SecretBackend:
        config = VaultConfig(endpoint=address, auth_config_path="unused/path")
        backend = await create_backend(
            "hashicorp-vault", config, Credentials({"token": token.encode()})
        )
        self.opened.append(backend)
        return backend

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        token = self.bad_credential if bad_credentials else self.server.root_token
        return await self._make(self.server.address, token)

    async def stopped_backend(self) -> SecretBackend:
        spare = OpenBaoServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        try:
            backend = await self._make(spare.address, spare.root_token)
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        return 1  # one LIST of the folder (detailed-metadata on OpenBao)

    def expected_batch_calls(self, paths: int) -> int:
        return paths  # Vault has no batch read

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


HARNESSES = [
    "hashicorp-vault",
    "aws-secrets-manager",
    "azure-key-vault",
    "google-secret-manager",
]


@pytest.fixture
async def vault_harness(openbao: OpenBaoServer, tmp_path: Path) -> AsyncIterator[VaultHarness]:
    harness = VaultHarness(openbao, tmp_path)
    yield harness
    await harness.close()


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Harness:
    name = str(request.param).split("-")[0]
    fixture = {
        "hashicorp": "vault_harness",
        "aws": "aws_harness",
        "azure": "azure_harness",
        "google": "google_harness",
    }[name]
    value: Harness = request.getfixturevalue(fixture)
    return value
