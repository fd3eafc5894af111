"""The AWS Secrets Manager harness, on a moto server with IAM authentication on."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.aws.backend import BATCH_SIZE, AwsSecretsManagerBackend
from scaivault_federation.backends.aws.config import AwsConfig

from .harness import ValueKind

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 5


def put_secret(client: Any, name: str, value: str | bytes | dict[str, str]) -> None:
    """Create ``name`` or give it a new current version (through the admin client)."""
    if isinstance(value, dict):
        value = json.dumps(value)
    field = "SecretString" if isinstance(value, str) else "SecretBinary"
    try:
        client.create_secret(Name=name, **{field: value})
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, **{field: value})


def aws_config(server: MotoServer, **extra: Any) -> AwsConfig:
    return AwsConfig(region=server.region, endpoint=server.endpoint, **extra)


def key_credentials(server: MotoServer) -> Credentials:
    return Credentials(
        {
            "access_key_id": server.access_key_id.encode(),
            "secret_access_key": server.secret_access_key.encode(),
        }
    )


class AwsHarness:
    backend_type = "aws-secrets-manager"
    value_kinds: frozenset[ValueKind] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE
    bad_credential = "AKIABADCANARY7C1F0000"

    def __init__(self, server: MotoServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.admin = server.client("secretsmanager")
        self.opened: list[SecretBackend] = []

    def new_prefix(self) -> str:
        return f"contract-{uuid.uuid4().hex[:10]}/"

    def put(self, path: str, value: str | bytes | dict[str, str]) -> None:
        put_secret(self.admin, path, value)

    def _make(self, server: MotoServer, credentials: Credentials) -> SecretBackend:
        backend = AwsSecretsManagerBackend(
            aws_config(server), credentials, page_size=self.page_size
        )
        self.opened.append(backend)
        return backend

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        if bad_credentials:
            credentials = Credentials(
                {
                    "access_key_id": self.bad_credential.encode(),
                    "secret_access_key": b"bad-secret-canary-5d0e",
                }
            )
        else:
            credentials = key_credentials(self.server)
        return self._make(self.server, credentials)

    async def stopped_backend(self) -> SecretBackend:
        spare = MotoServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}", iam_auth=False)
        spare.start()
        try:
            backend = self._make(spare, key_credentials(spare))
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        return max(1, math.ceil(secrets_in_one_folder / self.page_size))

    def expected_batch_calls(self, paths: int) -> int:
        return math.ceil(paths / BATCH_SIZE)

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto with IAM authentication on; ``access_key_id``/``secret_access_key`` are admin keys."""
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
async def aws_harness(moto_server: MotoServer, tmp_path: Path) -> AsyncIterator[AwsHarness]:
    harness = AwsHarness(moto_server, tmp_path)
    yield harness
    await harness.close()
