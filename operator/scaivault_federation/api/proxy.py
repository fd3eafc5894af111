"""Backend clients for proxy-mode reads, one per FederationBackend generation.

A client is built on first use from the CR's spec and the credentials
Secrets in the CR's own namespace (the same :func:`connect` the operator
uses), and kept while the CR's generation stays the same, so a
proxied read costs one backend round trip. A client whose credentials were
rejected is dropped, so the next read loads the (possibly rotated)
credentials again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from ..backends.base import RemoteSecret, SecretBackend
from ..backends.credentials import SecretReader, TokenIssuer, connect
from ..backends.errors import AuthenticationError, InvalidBackendConfigError
from ..backends.registry import BackendEnvironment
from ..backends.tenancy import NamespaceLabels
from ..models.resource import FederationBackendResource

log = logging.getLogger(__name__)


class ProxyBackends:
    def __init__(
        self,
        secrets: SecretReader,
        tokens: TokenIssuer,
        environment: BackendEnvironment,
        namespaces: NamespaceLabels | None = None,
    ) -> None:
        self.secrets = secrets
        self.tokens = tokens
        self.environment = environment
        self.namespaces = namespaces
        self._clients: dict[str, tuple[int, SecretBackend]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retired_calls = 0

    async def backend_for(self, cached: FederationBackendResource) -> SecretBackend:
        assert cached.spec is not None
        lock = self._locks.setdefault(cached.uid, asyncio.Lock())
        async with lock:
            current = self._clients.get(cached.uid)
            if current is not None and current[0] == cached.generation:
                return current[1]
            if current is not None:
                await self._close(cached.uid)
            backend = await connect(
                cached.spec,
                cached.namespace,
                self.secrets,
                self.tokens,
                self.environment,
                self.namespaces,
            )
            self._clients[cached.uid] = (cached.generation, backend)
            return backend

    async def read(self, cached: FederationBackendResource, remote_path: str) -> RemoteSecret:
        """The current remote value; backend errors propagate by type."""
        backend = await self.backend_for(cached)
        try:
            return await backend.get_secret(remote_path)
        except (AuthenticationError, InvalidBackendConfigError):
            await self.drop(cached.uid)
            raise

    async def drop(self, uid: str) -> None:
        lock = self._locks.setdefault(uid, asyncio.Lock())
        async with lock:
            await self._close(uid)

    async def _close(self, uid: str) -> None:
        entry = self._clients.pop(uid, None)
        if entry is None:
            return
        self._retired_calls += entry[1].calls.total()
        try:
            await entry[1].close()
        except Exception as exc:  # closing must never fail a request
            log.debug("closing a proxy backend failed: %s", type(exc).__name__)

    async def prune(self, live_uids: Iterable[str]) -> None:
        """Close the clients of backends that no longer exist."""
        keep = set(live_uids)
        for uid in [u for u in self._clients if u not in keep]:
            await self.drop(uid)
            self._locks.pop(uid, None)

    def total_calls(self) -> int:
        """Backend API calls made for proxied reads since start."""
        return self._retired_calls + sum(b.calls.total() for _, b in self._clients.values())

    async def close(self) -> None:
        for uid in list(self._clients):
            await self._close(uid)
