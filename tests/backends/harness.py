"""What the shared contract suite needs from each backend's real server.

Every backend type provides one :class:`Harness` fixture (see ``conftest.py``):
it writes test data straight into its server with the server's own admin API,
and builds backends the way the operator does, through the registry.
"""

from __future__ import annotations

from typing import Literal, Protocol

from scaivault_federation.backends import SecretBackend

ValueKind = Literal["json", "string", "binary"]


class Harness(Protocol):
    backend_type: str
    #: the kinds of remote value the store can hold ("json" = an object of strings)
    value_kinds: frozenset[ValueKind]
    #: the listing page size the harness's backends use (small, so pages are exercised)
    page_size: int | None

    def new_prefix(self) -> str:
        """A fresh template prefix (ending in ``/``) no other test uses."""
        ...

    def put(self, path: str, value: str | bytes | dict[str, str]) -> None:
        """Write ``value`` at backend path ``path`` (a full path under a prefix)."""
        ...

    async def backend(self, *, bad_credentials: bool = False) -> SecretBackend:
        """A backend built through the registry; with wrong credentials if asked."""
        ...

    async def stopped_backend(self) -> SecretBackend:
        """A backend whose server answered once and has since been stopped."""
        ...

    #: the credential the bad-credentials backend used, which no error may contain
    bad_credential: str

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        """API calls a warm backend makes to list that many secrets under one prefix."""
        ...

    def expected_batch_calls(self, paths: int) -> int:
        """API calls a warm backend makes to read that many paths with ``get_many``."""
        ...
