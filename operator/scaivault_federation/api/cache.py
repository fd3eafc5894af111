"""FederationBackends in memory, kept current by a list + watch.

The API answers every read of backends from here, so a GET costs no
apiserver call and never waits for a backend. The cache lists all
FederationBackends, then watches from the list's resourceVersion (with
bookmarks); a 410 Gone means the history is gone and it lists again; other
failures reconnect with exponential backoff and jitter. Writes made through
the API are applied here at once from the apiserver's answer, so a client
reads its own writes; an older event arriving later does not undo them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import aiohttp

from ..k8s.backend_store import BackendStore
from ..k8s.client import KubeApiError
from ..k8s.watch import WatchExpiredError
from ..models.config import CONFIG_MODELS, BackendType
from ..models.resource import FederationBackendResource
from ..models.spec import BackendSpec
from ..paths import PathMapping

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


def _version(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def backend_view(backend: FederationBackendResource) -> dict[str, Any]:
    """The wire shape of a backend: id, name, namespace and the spec's API fields."""
    head = {"id": backend.id, "name": backend.name, "namespace": backend.namespace}
    if backend.spec is not None:
        return {**head, **backend.spec.to_api()}
    return {**head, **_lenient(backend.raw_spec)}


def _lenient(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A spec the models reject, shown field by field under the models' own names."""
    out = {
        name: raw[info.alias]
        for name, info in BackendSpec.model_fields.items()
        if info.alias and info.alias in raw and name != "config"
    }
    backend_type = next((t for t in BackendType if t.value == raw.get("type")), None)
    if backend_type is None:
        return out
    model = CONFIG_MODELS[backend_type]
    config = raw.get("config") or {}
    out["config"] = {
        name: config[info.alias]
        for name, info in model.model_fields.items()
        if isinstance(config, dict) and info.alias and info.alias in config
    }
    return out


class BackendCache:
    def __init__(self, store: BackendStore) -> None:
        self.store = store
        self.synced = asyncio.Event()
        self.lists = 0
        self._by_uid: dict[str, FederationBackendResource] = {}
        self._uid_by_id: dict[str, str] = {}
        #: a read names its namespace: it looks at that namespace's backends only
        self._uids_by_namespace: dict[str, set[str]] = {}
        self._rng = random.Random()  # noqa: S311  (jitter)

    # --- reads -------------------------------------------------------------------

    def get(self, ident: str) -> FederationBackendResource | None:
        uid = self._uid_by_id.get(ident)
        backend = self._by_uid.get(uid) if uid is not None else None
        return backend if backend is not None and not backend.deleting else None

    def find(self, namespace: str, name: str) -> FederationBackendResource | None:
        for backend in self._in(namespace):
            if backend.name == name and not backend.deleting:
                return backend
        return None

    def backends(self, namespace: str | None = None) -> list[FederationBackendResource]:
        candidates = self._by_uid.values() if namespace is None else self._in(namespace)
        found = [b for b in candidates if not b.deleting]
        return sorted(found, key=lambda b: (b.namespace, b.name))

    def _in(self, namespace: str) -> list[FederationBackendResource]:
        return [self._by_uid[uid] for uid in self._uids_by_namespace.get(namespace, ())]

    def namespaces(self) -> set[str]:
        return {b.namespace for b in self._by_uid.values() if not b.deleting}

    def owner_of(
        self, namespace: str, path: str
    ) -> tuple[FederationBackendResource, PathMapping, str] | None:
        """The backend whose pathMapping claims ``path`` in ``namespace``, its mapping and
        the remote path; the most specific pattern wins, then the oldest backend."""
        best: tuple[Any, ...] | None = None
        for backend in self.backends(namespace):
            for mapping in backend.mappings:
                remote = mapping.to_remote(path)
                if remote is None:
                    continue
                rank = (
                    mapping.specificity_key(),
                    backend.metadata.creation_timestamp,
                    backend.name,
                )
                if best is None or rank < best[0]:
                    best = (rank, backend, mapping, remote)
                break
        if best is None:
            return None
        return best[1], best[2], best[3]

    # --- writes ------------------------------------------------------------------

    def upsert(self, backend: FederationBackendResource) -> FederationBackendResource:
        """Keep ``backend`` unless the cache already holds a newer version of it."""
        current = self._by_uid.get(backend.uid)
        if current is not None:
            new, old = _version(backend.resource_version), _version(current.resource_version)
            if new is not None and old is not None and new < old:
                return current
            self._uid_by_id.pop(current.id, None)
        self._by_uid[backend.uid] = backend
        self._uid_by_id[backend.id] = backend.uid
        self._uids_by_namespace.setdefault(backend.namespace, set()).add(backend.uid)
        return backend

    def remove(self, uid: str) -> None:
        current = self._by_uid.pop(uid, None)
        if current is not None:
            self._uid_by_id.pop(current.id, None)
            uids = self._uids_by_namespace.get(current.namespace)
            if uids is not None:
                uids.discard(uid)
                if not uids:
                    del self._uids_by_namespace[current.namespace]

    def _replace(self, items: list[FederationBackendResource]) -> None:
        self._by_uid.clear()
        self._uid_by_id.clear()
        self._uids_by_namespace.clear()
        for item in items:
            self.upsert(item)

    # --- list + watch --------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled."""
        delay = 1.0
        while True:
            try:
                items, version = await self.store.list_all()
                self.lists += 1
                self._replace(items)
                self.synced.set()
                delay = 1.0
                await self._watch(version)
            except WatchExpiredError:
                log.info("backend watch expired; listing again")
            except (KubeApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning(
                    "backend watch failed (%s); retrying in %.0fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay * self._rng.uniform(0.8, 1.2))
                delay = min(MAX_BACKOFF, delay * 2)

    async def _watch(self, version: str) -> None:
        while True:
            async for event in self.store.watch(version):
                version = event.resource_version
                if event.resource is None:
                    continue
                if event.type in ("ADDED", "MODIFIED"):
                    self.upsert(event.resource)
                elif event.type == "DELETED":
                    self.remove(event.resource.uid)
