"""What the shared suites need from each backend type's real server.

Every backend type has one module here, ``harness_<type>.py``: the session fixture
that starts its server (or emulator) and one :class:`Harness` subclass, registered
with :func:`registered`. That module is all a new type adds to the tests: the root
conftest loads every ``harness_*`` module as a plugin, and the suites that take a
``harness`` fixture run once for each registered type:

- the contract (``tests/backends/test_contract.py``) builds backends in this process,
  the way the operator does, and checks what each call answers;
- the sync suite (``tests/e2e/test_sync_common.py``) writes the spec of a
  FederationBackend for the type and checks the Secrets the operator writes.

A harness writes test data straight into its server with the server's own admin API.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import pytest

from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.settings import Settings

ValueKind = Literal["json", "string", "binary"]
#: a remote value: an object of strings (stored as the type stores maps), text or bytes
Value = str | bytes | dict[str, str]

Server = TypeVar("Server")


class Harness(ABC, Generic[Server]):
    """One backend type on its real server."""

    #: the ``spec.type`` of the backend
    backend_type: ClassVar[str]
    #: a variant of the type's harness (another identity, say), run by the suites that
    #: ask for variants (``RUN_VARIANTS = True`` in their module); "" for the type's own
    variant: ClassVar[str] = ""
    #: a short name of the type, for the names of test Secrets and backends
    short: ClassVar[str]
    #: the session fixture that gives the running server
    server_fixture: ClassVar[str]
    #: the kinds of remote value the store can hold ("json" = an object of strings)
    value_kinds: ClassVar[frozenset[ValueKind]]
    #: the listing page size the harness's backends use (small, so pages are exercised)
    page_size: ClassVar[int | None]
    #: whether :meth:`throttle` can make the server throttle (not every server can)
    throttles: ClassVar[bool] = False
    #: whether the store still lists a secret :meth:`switch_off` switched off
    lists_switched_off: ClassVar[bool] = False
    #: whether describing a path answers its expiry too (not only listing it)
    describes_expiry: ClassVar[bool] = True

    #: the credential the bad credentials carry, which no error or status may contain
    bad_credential: str
    #: the secret part of the good credentials, which no log line may contain
    credential_canary: str

    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.opened: list[SecretBackend] = []

    # -- test data ----------------------------------------------------------------------

    def new_prefix(self) -> str:
        """A fresh backend path prefix (ending in ``/``) no other test uses."""
        return f"t-{uuid.uuid4().hex[:10]}/"

    def outside(self, prefix: str) -> str:
        """A path outside ``prefix`` whose name contains it."""
        return f"other/{prefix}decoy"

    @abstractmethod
    def put(self, path: str, value: Value) -> None:
        """Write ``value`` at backend path ``path`` (a new current version if it exists)."""

    @abstractmethod
    def switch_off(self, path: str) -> None:
        """Keep the secret at ``path`` in the store, with no current value a reader may
        read (what the type calls disabled, or deleted but recoverable)."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete the secret at ``path`` from the store."""

    @abstractmethod
    def expire(self, path: str, days: int) -> datetime | None:
        """Give the secret at ``path`` an expiry (or a next rotation) about ``days`` days
        ahead, as the store's users do; answers the time the store now holds, or None
        for a type that keeps no such time."""

    async def throttle(self) -> float:
        """Make the server throttle the next calls until :meth:`close`; returns the most
        seconds its answers may ask a client to wait."""
        raise NotImplementedError(f"the {self.backend_type} server cannot throttle")

    # -- backends built in this process (the contract) -----------------------------------

    @abstractmethod
    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        """The values of a credentials Secret: the good ones, or wrong ones if asked."""

    @abstractmethod
    async def make(self, server: Server, credentials: Credentials) -> SecretBackend:
        """A backend for ``server`` (the harness's, or a spare one) with ``credentials``."""

    @abstractmethod
    def spare_server(self) -> Server:
        """A started server of this test's own, for :meth:`stopped_backend`."""

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        """A backend on the harness's server; with wrong credentials if asked."""
        credentials = await self.loaded_credentials(bad=bad_credentials)
        return self._track(await self.make(self.server, credentials))

    async def loaded_credentials(self, *, bad: bool = False) -> Credentials:
        """What the operator loads for a backend of :meth:`spec_config`."""
        return encoded(self.credentials(bad=bad))

    def client_environment(self) -> BackendEnvironment:
        """What the operator's settings give the backend clients."""
        return Settings.load().backends.environment()

    async def stopped_backend(self) -> SecretBackend:
        """A backend whose server answered once and has since been stopped."""
        spare: Any = self.spare_server()
        try:
            backend = self._track(await self.make(spare, self.spare_credentials(spare)))
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def spare_credentials(self, spare: Server) -> Credentials:
        """Credentials the spare server accepts."""
        return encoded(self.credentials())

    @abstractmethod
    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        """API calls a warm backend makes to list that many secrets under one prefix."""

    def expected_batch_calls(self, paths: int) -> int:
        """API calls a warm backend makes to read that many paths with ``get_many``."""
        return paths  # most stores have no batch read

    def _track(self, backend: SecretBackend) -> SecretBackend:
        self.opened.append(backend)
        return backend

    # -- a FederationBackend (the operator) ---------------------------------------------

    @abstractmethod
    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        """The ``spec.config`` of a FederationBackend reading the credentials Secret at
        ``credentials_path`` (``<secret>/<key prefix>``) in its namespace."""

    @classmethod
    def operator_environment(cls, server: Server) -> dict[str, str]:
        """Environment the operator process needs for this type (none by default;
        a harness that overrides this has its server started before the operator)."""
        return {}

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


#: a harness of any type, as the shared suites take it
AnyHarness = Harness[Any]


def encoded(values: dict[str, str]) -> Credentials:
    return Credentials({key: value.encode() for key, value in values.items()})


HarnessType = type[AnyHarness]
#: backend type -> its harness, in the order the modules register them
HARNESSES: dict[str, HarnessType] = {}

H = TypeVar("H", bound=HarnessType)


def registered(kind: H) -> H:
    """Class decorator: run the shared suites for this harness's type (or variant)."""
    HARNESSES[f"{kind.backend_type}-{kind.variant}" if kind.variant else kind.backend_type] = kind
    return kind


@pytest.fixture(scope="session")
def operator_environment(request: pytest.FixtureRequest) -> dict[str, str]:
    """What every registered type needs in the operator's environment."""
    env: dict[str, str] = {}
    for kind in HARNESSES.values():
        if "operator_environment" in vars(kind):
            env.update(kind.operator_environment(request.getfixturevalue(kind.server_fixture)))
    return env


#: fixture name -> which registered harnesses it runs for
_SELECTIONS: dict[str, Callable[[HarnessType], bool]] = {
    "harness": lambda kind: True,
    "throttling_harness": lambda kind: kind.throttles,
    "keyless_harness": lambda kind: kind.variant == "keyless",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    variants = getattr(metafunc.module, "RUN_VARIANTS", False)
    for name, wanted in _SELECTIONS.items():
        if name in metafunc.fixturenames:
            types = [
                t
                for t, kind in HARNESSES.items()
                if wanted(kind) and (variants or not kind.variant)
            ]
            metafunc.parametrize(name, types, indirect=True)


async def _opened(request: pytest.FixtureRequest, tmp: Path) -> AsyncIterator[AnyHarness]:
    kind = HARNESSES[request.param]
    harness = kind(request.getfixturevalue(kind.server_fixture), tmp)
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnyHarness]:
    """The harness of each registered backend type in turn."""
    async for opened in _opened(request, tmp_path):
        yield opened


@pytest.fixture
async def keyless_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AnyHarness]:
    """The keyless variant of each cloud's harness, in turn."""
    async for opened in _opened(request, tmp_path):
        yield opened


@pytest.fixture
async def throttling_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AnyHarness]:
    """The harness of each registered type whose server can throttle, in turn."""
    async for opened in _opened(request, tmp_path):
        yield opened
