"""The Google Secret Manager harness, on the local protocol emulator with authentication on."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scaivault_devenv.gsm import GoogleEmulator, make_service_account_key
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.google.backend import GoogleSecretManagerBackend
from scaivault_federation.backends.google.config import GoogleConfig
from scaivault_federation.backends.naming import google_name

from .harness import ValueKind

# A listing page this small makes the contract suite cross several pages.
PAGE_SIZE = 4


def key_credentials(emulator: GoogleEmulator, account: str = "reader") -> Credentials:
    return Credentials({"credentials.json": emulator.key_json(account).encode()})


def put_value(emulator: GoogleEmulator, path: str, value: str | bytes | dict[str, str]) -> int:
    """A new latest version at backend path ``path`` (JSON text for a map)."""
    data = json.dumps(value) if isinstance(value, dict) else value
    return emulator.put(google_name(path), data)


class GoogleHarness:
    backend_type = "google-secret-manager"
    value_kinds: frozenset[ValueKind] = frozenset({"json", "string", "binary"})
    page_size = PAGE_SIZE

    def __init__(self, emulator: GoogleEmulator, tmp: Path) -> None:
        self.emulator = emulator
        self.tmp = tmp
        self.opened: list[SecretBackend] = []
        # a well-formed key of an account the emulator does not trust
        impostor, _ = make_service_account_key(emulator.project, "impostor")
        self._bad_key = json.dumps(impostor)
        self.bad_credential = impostor["private_key"].splitlines()[1]

    def new_prefix(self) -> str:
        return f"contract-{uuid.uuid4().hex[:10]}/"

    def put(self, path: str, value: str | bytes | dict[str, str]) -> None:
        put_value(self.emulator, path, value)

    def _make(self, emulator: GoogleEmulator, credentials: Credentials) -> SecretBackend:
        config = GoogleConfig(project=emulator.project, endpoint=emulator.endpoint)
        backend = GoogleSecretManagerBackend(config, credentials, page_size=self.page_size)
        self.opened.append(backend)
        return backend

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        if bad_credentials:
            return self._make(
                self.emulator, Credentials({"credentials.json": self._bad_key.encode()})
            )
        return self._make(self.emulator, key_credentials(self.emulator))

    async def stopped_backend(self) -> SecretBackend:
        spare = GoogleEmulator(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        try:
            backend = self._make(spare, key_credentials(spare))
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        # the name filter leaves only this prefix's secrets: full pages, then the rest
        return max(1, math.ceil(secrets_in_one_folder / self.page_size))

    def expected_batch_calls(self, paths: int) -> int:
        return paths  # Secret Manager has no batch read

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


@pytest.fixture(scope="session")
def gsm_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleEmulator]:
    """The Secret Manager emulator with authentication on (keys: admin, reader, viewer)."""
    with GoogleEmulator(tmp_path_factory.mktemp("gsm")) as emulator:
        yield emulator


@pytest.fixture
async def google_harness(
    gsm_emulator: GoogleEmulator, tmp_path: Path
) -> AsyncIterator[GoogleHarness]:
    harness = GoogleHarness(gsm_emulator, tmp_path)
    yield harness
    await harness.close()
