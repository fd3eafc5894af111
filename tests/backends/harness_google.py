"""The Google Secret Manager harness, on the local protocol emulator with authentication on."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scaivault_devenv.gsm import GoogleEmulator, make_service_account_key
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.google.backend import GoogleSecretManagerBackend
from scaivault_federation.backends.google.config import GoogleConfig
from scaivault_federation.backends.google.names import google_name
from scaivault_federation.settings import variable_of

from .harness import Harness, Value, ValueKind, registered

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 4


def key_credentials(emulator: GoogleEmulator, account: str = "reader") -> Credentials:
    return Credentials({"credentials.json": emulator.key_json(account).encode()})


def put_value(emulator: GoogleEmulator, path: str, value: Value) -> int:
    """A new latest version at backend path ``path`` (JSON text for a map)."""
    data = json.dumps(value) if isinstance(value, dict) else value
    return emulator.put(google_name(path), data)


def private_key_line(key: dict[str, str]) -> str:
    """A line from the middle of a service-account key's private key."""
    return key["private_key"].splitlines()[1]


@registered
class GoogleHarness(Harness[GoogleEmulator]):
    backend_type = "google-secret-manager"
    short = "google"
    server_fixture = "gsm_emulator"
    value_kinds: ClassVar[frozenset[ValueKind]] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE
    lists_switched_off = True  # a listing shows secrets, not their versions
    describes_expiry = False  # a description is an access: no secret metadata

    def __init__(self, emulator: GoogleEmulator, tmp: Path) -> None:
        super().__init__(emulator, tmp)
        self.key = emulator.key_json()
        self.credential_canary = private_key_line(json.loads(self.key))
        # a well-formed key of an account the emulator does not trust
        impostor, _ = make_service_account_key(emulator.project, "impostor")
        self._bad_key = json.dumps(impostor)
        self.bad_credential = private_key_line(impostor)
        self.latest: dict[str, int] = {}

    def put(self, path: str, value: Value) -> None:
        self.latest[path] = put_value(self.server, path, value)

    def expire(self, path: str, days: int) -> datetime | None:
        when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
        return self.server.expire(google_name(path), when)

    def switch_off(self, path: str) -> None:
        self.server.disable_version(google_name(path), self.latest[path])

    def delete(self, path: str) -> None:
        self.server.delete_secret(google_name(path))

    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        return {"credentials.json": self._bad_key if bad else self.key}

    async def make(self, emulator: GoogleEmulator, credentials: Credentials) -> SecretBackend:
        config = GoogleConfig(project=emulator.project, endpoint=emulator.endpoint)
        return GoogleSecretManagerBackend(config, credentials, page_size=PAGE_SIZE)

    def spare_server(self) -> GoogleEmulator:
        spare = GoogleEmulator(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        return spare

    def spare_credentials(self, spare: GoogleEmulator) -> Credentials:
        return key_credentials(spare)

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        # the name filter leaves only this prefix's secrets: full pages, then the rest
        return max(1, math.ceil(secrets_in_one_folder / PAGE_SIZE))

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return {
            "project": self.server.project,
            "endpoint": self.server.endpoint,
            "credentialsPath": credentials_path,
        }

    @classmethod
    def operator_environment(cls, server: GoogleEmulator) -> dict[str, str]:
        # the emulator's STS and IAM credentials, where keyless backends exchange their
        # ServiceAccounts' tokens
        return {
            variable_of("google_sts_url"): server.token_url,
            variable_of("google_iam_credentials_url"): server.http_url,
        }


@pytest.fixture(scope="session")
def gsm_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleEmulator]:
    """The Secret Manager emulator with authentication on (keys: admin, reader, viewer)."""
    with GoogleEmulator(tmp_path_factory.mktemp("gsm")) as emulator:
        yield emulator
