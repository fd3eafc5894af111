"""Manual-sync requests of one backend made at the same time reach Kubernetes as one.

A per-path request reads the backend and patches its annotations guarded by its
resourceVersion (:meth:`~..k8s.backend_store.BackendStore.request_sync`), so many
at once for one backend (a burst of change events, each its own delivery) would
mostly meet each other's writes and retry. Here the first request of a backend
is written at once, and those that come while it is on its way wait and go
together in the next write: their paths merged, each once, or a full sync when
one asks for it or together they name more paths than a per-path sync takes
(:func:`~..models.resource.merged_request`). Each caller gets the stamp and the
backend as the write that carried its request left them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..k8s.backend_store import BackendStore
from ..models.resource import FederationBackendResource, merged_request
from ..paths import PathScope

#: (kind, namespace, name) of a backend
_Key = tuple[str, str, str]


def sync_stamp() -> str:
    """The manual-sync annotation's value for a request made now."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Requested:
    """A request as written: the backend after the write, and the request's stamp."""

    backend: FederationBackendResource
    stamp: str


@dataclass
class _Batch:
    paths: PathScope | None
    #: the backend as the caller's cache (or the write before) last showed it
    known: FederationBackendResource | None = None
    waiters: list[asyncio.Future[Requested]] = field(default_factory=list)


class SyncRequests:
    def __init__(self) -> None:
        self._waiting: dict[_Key, _Batch] = {}
        self._writing: dict[_Key, asyncio.Task[None]] = {}

    async def request(
        self,
        store: BackendStore,
        namespace: str,
        name: str,
        paths: PathScope | None,
        known: FederationBackendResource | None = None,
    ) -> Requested:
        """Ask for a sync of the backend (of ``paths`` only, when given; ``known``: the
        backend as the caller last saw it, which spares a read when it is current).
        Raises what the write raised (``NotFoundError`` for a backend that is gone,
        ...)."""
        key = (store.kind.kind, namespace, name)
        batch = self._waiting.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch(paths, known)
        else:
            batch.paths = merged_request(batch.paths, paths)
            batch.known = known or batch.known  # a cache only moves forward
        answer: asyncio.Future[Requested] = asyncio.get_running_loop().create_future()
        batch.waiters.append(answer)
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._write(key, store))
        return await answer

    async def _write(self, key: _Key, store: BackendStore) -> None:
        """Write the waiting requests of ``key``, one batch at a time, until none wait."""
        _, namespace, name = key
        last: FederationBackendResource | None = None
        try:
            while (batch := self._waiting.pop(key, None)) is not None:
                stamp = sync_stamp()
                try:
                    written = await store.request_sync(
                        namespace, name, stamp, batch.paths, known=last or batch.known
                    )
                except Exception as exc:
                    _settle(batch, error=exc)
                except BaseException:
                    _settle(batch, cancelled=True)
                    raise
                else:
                    last = written
                    _settle(batch, Requested(written, stamp))
        finally:
            del self._writing[key]
            left = self._waiting.pop(key, None)
            if left is not None:  # only when cancelled: nobody will write them
                _settle(left, cancelled=True)


def _settle(
    batch: _Batch,
    answer: Requested | None = None,
    *,
    error: Exception | None = None,
    cancelled: bool = False,
) -> None:
    for waiter in batch.waiters:
        if waiter.done():  # its caller went away
            continue
        if cancelled:
            waiter.cancel()
        elif error is not None:
            waiter.set_exception(error)
        else:
            assert answer is not None
            waiter.set_result(answer)
