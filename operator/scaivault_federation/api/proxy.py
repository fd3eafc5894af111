"""Backend clients for proxy-mode reads, one per FederationBackend generation.

A client is built on first use from the CR's spec and the credentials Secrets in
the CR's own namespace (a ClusterFederationBackend's: the operator's namespace;
the same :func:`connect` the operator uses), and kept while the CR's generation
stays the same, so a proxied read costs one backend round trip. A client whose
credentials were rejected is dropped, so the next read loads the (possibly
rotated) credentials again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from prometheus_client import Histogram

from ..backends.base import RemoteSecret, SecretBackend, call_result
from ..backends.errors import AuthenticationError, InvalidBackendConfigError
from ..metric_series import remove_series
from ..models.resource import FederationBackendResource
from ..services import Connector

log = logging.getLogger(__name__)

PROXY_LABELS = ("namespace", "backend", "type", "result")
PROXY_READS = Histogram(
    "scaivault_proxy_read_duration_seconds",
    "Proxied reads of proxy-mode backends (connecting included), by result.",
    PROXY_LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class ProxyBackends:
    def __init__(self, connect: Connector, operator_namespace: str) -> None:
        """``connect`` makes a client as the operator does; a cluster backend's
        credentials are in ``operator_namespace``."""
        self.connect = connect
        self.operator_namespace = operator_namespace
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
            backend = await self.connect(cached.spec, self.home(cached), cached.owner)
            self._clients[cached.uid] = (cached.generation, backend)
            return backend

    def home(self, cached: FederationBackendResource) -> str:
        """Where the backend's credentials are read: its namespace, or for a cluster
        backend the operator's, as the operator reads them."""
        return cached.kind.home(cached.namespace, self.operator_namespace)

    async def read(self, cached: FederationBackendResource, remote_path: str) -> RemoteSecret:
        """The current remote value; backend errors propagate by type."""
        assert cached.spec is not None
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            backend = await self.backend_for(cached)
            return await backend.get_secret(remote_path)
        except (AuthenticationError, InvalidBackendConfigError) as exc:
            error = exc
            await self.drop(cached.uid)
            raise
        except Exception as exc:
            error = exc
            raise
        finally:
            labels = (*self._series(cached), cached.spec.type, call_result(error))
            PROXY_READS.labels(*labels).observe(time.perf_counter() - started)

    def _series(self, cached: FederationBackendResource) -> tuple[str, str]:
        """The namespace and backend labels of a backend's series."""
        return self.home(cached), cached.owner

    def forget_series(self, cached: FederationBackendResource) -> None:
        """The backend is gone: every series naming it goes too."""
        namespace, backend = self._series(cached)
        remove_series(PROXY_READS, PROXY_LABELS, {"namespace": namespace, "backend": backend})

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
