"""The AWS Secrets Manager harness, on a moto server with IAM authentication on."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.aws.backend import BATCH_SIZE, AwsSecretsManagerBackend
from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.settings import variable_of

from .harness import Harness, Value, ValueKind, registered

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 5


def put_secret(client: Any, name: str, value: Value) -> None:
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


@registered
class AwsHarness(Harness[MotoServer]):
    backend_type = "aws-secrets-manager"
    short = "aws"
    server_fixture = "moto_server"
    value_kinds: ClassVar[frozenset[ValueKind]] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE
    bad_credential = "AKIABADCANARY7C1F0000"

    def __init__(self, server: MotoServer, tmp: Path) -> None:
        super().__init__(server, tmp)
        self.admin = server.client("secretsmanager")
        self.credential_canary = server.secret_access_key

    def put(self, path: str, value: Value) -> None:
        put_secret(self.admin, path, value)

    def switch_off(self, path: str) -> None:
        self.admin.delete_secret(SecretId=path, RecoveryWindowInDays=7)

    def expire(self, path: str, days: int) -> datetime | None:
        # rotation every ``days`` days, not now: AWS answers the next one
        rules = {"AutomaticallyAfterDays": days}
        self.admin.rotate_secret(SecretId=path, RotationRules=rules, RotateImmediately=False)
        when: datetime = self.admin.describe_secret(SecretId=path)["NextRotationDate"]
        return when  # pending deletion

    def delete(self, path: str) -> None:
        self.admin.delete_secret(SecretId=path, ForceDeleteWithoutRecovery=True)

    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        if bad:
            return {
                "access_key_id": self.bad_credential,
                "secret_access_key": "bad-secret-canary-5d0e",
            }
        return {
            "access_key_id": self.server.access_key_id,
            "secret_access_key": self.server.secret_access_key,
        }

    async def make(self, server: MotoServer, credentials: Credentials) -> SecretBackend:
        return AwsSecretsManagerBackend(aws_config(server), credentials, page_size=PAGE_SIZE)

    def spare_server(self) -> MotoServer:
        spare = MotoServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}", iam_auth=False)
        spare.start()
        return spare

    def spare_credentials(self, spare: MotoServer) -> Credentials:
        return key_credentials(spare)

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        return max(1, math.ceil(secrets_in_one_folder / PAGE_SIZE))

    def expected_batch_calls(self, paths: int) -> int:
        return math.ceil(paths / BATCH_SIZE)

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return {
            "region": self.server.region,
            "endpoint": self.server.endpoint,
            "credentialsPath": credentials_path,
        }

    @classmethod
    def operator_environment(cls, server: MotoServer) -> dict[str, str]:
        # the operator's "own" cloud identity: moto's keys, usable only in the operator's
        # namespace and the namespaces allowed an ambient identity; and moto's STS, where
        # keyless backends exchange their ServiceAccounts' tokens
        return {
            "AWS_ACCESS_KEY_ID": server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
            variable_of("aws_endpoint_url_sts"): server.endpoint,
        }


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto with IAM authentication on; ``access_key_id``/``secret_access_key`` are admin keys."""
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server
