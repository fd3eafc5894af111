"""FederationBackends and ClusterFederationBackends in memory, kept current by a
list + watch of each (:class:`..k8s.reflector.Reflector`).

The API answers every read of backends from here, so a GET costs no
apiserver call and never waits for a backend. Each kind is listed, then
watched from the list's resourceVersion (with bookmarks); a 410 Gone means
the history is gone and it is listed again; other failures reconnect with
exponential backoff and jitter. Writes made through the API are applied here
at once from the apiserver's answer, so a client reads its own writes; an
older event arriving later does not undo them.

A cluster backend's namespaceSelector is matched against the namespaces'
labels, held by a :class:`..k8s.namespace_index.NamespaceIndex` fed the same
way, so :meth:`BackendCache.owner_of` knows which cluster backends claim a
path in a namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from ..backends.registry import config_model
from ..k8s.backend_store import BackendStores
from ..k8s.client import JSON
from ..k8s.namespace_index import NamespaceIndex
from ..k8s.reflector import Reflector, parse_each
from ..models.api import backend_view as wire_view
from ..models.cluster import ClusterBackendSpec, cluster_spec
from ..models.kind import CLUSTER_FEDERATION_BACKEND, BackendKind, owned_by
from ..models.resource import FederationBackendResource
from ..models.spec import BackendSpec
from ..paths import PathMapping

#: the namespace key of cluster backends in the cache's index (no namespace has it)
CLUSTER = ""


def _version(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def backend_view(backend: FederationBackendResource) -> dict[str, Any]:
    """The wire shape of a backend: id, name, namespace, scope and the spec's API fields."""
    namespace = backend.namespace if backend.kind.namespaced else None
    if backend.spec is not None:
        fields = backend.spec.to_api()
    else:
        fields = _lenient(backend.raw_spec, backend.kind.spec_model)
    return wire_view(backend.id, backend.name, namespace, fields)


def _lenient(raw: Mapping[str, Any], spec_model: type[BackendSpec]) -> dict[str, Any]:
    """A spec the models reject, shown field by field under the models' own names."""
    out = {
        name: raw[info.alias]
        for name, info in spec_model.model_fields.items()
        if info.alias and info.alias in raw and name != "config"
    }
    model = config_model(raw.get("type"))
    if model is None:
        return out
    config = raw.get("config") or {}
    out["config"] = {
        name: config[info.alias]
        for name, info in model.model_fields.items()
        if isinstance(config, dict) and info.alias and info.alias in config
    }
    return out


class _Feed:
    """One kind's list + watch, applied to the cache."""

    def __init__(self, cache: BackendCache, kind: BackendKind) -> None:
        self.cache = cache
        self.kind = kind

    def parse(self, obj: Mapping[str, Any]) -> FederationBackendResource:
        return FederationBackendResource.from_object(obj, self.kind)

    def replaced(self, scope: str, items: list[JSON]) -> None:
        self.cache._replace(parse_each(scope, items, self.parse), self.kind)

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        resource = self.parse(obj)
        if event_type == "DELETED":
            self.cache.remove(resource.uid)
        else:
            self.cache.upsert(resource)


class BackendCache:
    def __init__(self, stores: BackendStores, namespaces: NamespaceIndex | None = None) -> None:
        """The backends of each kind ``stores`` serves; a cluster backend's selector is
        matched against ``namespaces`` (without it, cluster backends claim no path)."""
        self.synced = asyncio.Event()
        self.stores = stores
        self.namespace_index = namespaces
        #: the list + watch of each kind (and of the namespaces), made by :meth:`run`
        self.reflectors: list[Reflector] = []
        self._by_uid: dict[str, FederationBackendResource] = {}
        self._uid_by_id: dict[str, str] = {}
        #: a read names its namespace: it looks at that namespace's backends only
        self._uids_by_namespace: dict[str, set[str]] = {}
        #: a cluster backend's mappings in one namespace, by (uid, namespace), for the
        #: resourceVersion they were made of (reads ask for them on every request)
        self._in_namespace: dict[tuple[str, str], tuple[str, tuple[PathMapping, ...]]] = {}
        #: told of each backend that is gone (deleted, or missing from a new listing)
        self._removed_listeners: list[Callable[[FederationBackendResource], None]] = []

    def listen_removed(self, listener: Callable[[FederationBackendResource], None]) -> None:
        self._removed_listeners.append(listener)

    @property
    def lists(self) -> int:
        """How many full listings have been made (of every kind)."""
        return sum(r.lists for r in self.reflectors)

    # --- reads -------------------------------------------------------------------

    def get(self, ident: str) -> FederationBackendResource | None:
        uid = self._uid_by_id.get(ident)
        backend = self._by_uid.get(uid) if uid is not None else None
        return backend if backend is not None and not backend.deleting else None

    def find(self, namespace: str, name: str) -> FederationBackendResource | None:
        """The FederationBackend ``name`` in ``namespace`` (``namespace`` ``""``: the
        ClusterFederationBackend ``name``)."""
        for backend in self._in(namespace):
            if backend.name == name and not backend.deleting:
                return backend
        return None

    def managing(self, namespace: str, owner: str) -> FederationBackendResource | None:
        """The backend a managed Secret in ``namespace`` names as its owner (its
        backend label: a FederationBackend's name, or a cluster backend's owner key)."""
        kind, name = owned_by(owner)
        return self.find(kind.object_namespace(namespace), name)

    def backends(self, namespace: str | None = None) -> list[FederationBackendResource]:
        """FederationBackends: those of ``namespace``, or of every namespace."""
        if namespace is None:
            candidates = [b for b in self._by_uid.values() if b.kind.namespaced]
        else:
            candidates = self._in(namespace) if namespace != CLUSTER else []
        found = [b for b in candidates if not b.deleting]
        return sorted(found, key=lambda b: (b.namespace, b.name))

    def cluster_backends(self) -> list[FederationBackendResource]:
        """ClusterFederationBackends, by name."""
        found = [b for b in self._in(CLUSTER) if not b.deleting]
        return sorted(found, key=lambda b: b.name)

    def uids(self) -> list[str]:
        """Every backend's uid, of both kinds."""
        return list(self._by_uid)

    def _in(self, namespace: str) -> list[FederationBackendResource]:
        return [self._by_uid[uid] for uid in self._uids_by_namespace.get(namespace, ())]

    def namespaces(self) -> set[str]:
        """The namespaces that hold a FederationBackend."""
        return {b.namespace for b in self._by_uid.values() if not b.deleting and b.kind.namespaced}

    def _claiming(
        self, namespace: str
    ) -> list[tuple[FederationBackendResource, list[PathMapping]]]:
        """The backends whose mappings apply in ``namespace`` and those mappings: its own
        FederationBackends, and the cluster backends whose selector selects it (their
        ``{namespace}`` made concrete)."""
        claiming = [(b, list(b.mappings)) for b in self.backends(namespace)]
        labels = (
            self.namespace_index.labels().get(namespace)
            if self.namespace_index is not None and namespace != CLUSTER
            else None
        )
        if labels is None:
            return claiming
        for backend in self.cluster_backends():
            spec = cluster_spec(backend.spec)
            if spec is not None and spec.selects(labels):
                claiming.append((backend, list(self._mappings_in(backend, spec, namespace))))
        return claiming

    def cluster_mappings(
        self,
    ) -> list[tuple[FederationBackendResource, list[tuple[PathMapping, ...]]]]:
        """Each cluster backend with its mappings in every namespace it selects."""
        if self.namespace_index is None:
            return []
        namespaces = self.namespace_index.labels()
        claims: list[tuple[FederationBackendResource, list[tuple[PathMapping, ...]]]] = []
        for backend in self.cluster_backends():
            spec = cluster_spec(backend.spec)
            if spec is None:
                continue
            selected = sorted(ns for ns, labels in namespaces.items() if spec.selects(labels))
            per_namespace = [self._mappings_in(backend, spec, ns) for ns in selected]
            claims.append((backend, per_namespace))
        return claims

    def _mappings_in(
        self, backend: FederationBackendResource, spec: ClusterBackendSpec, namespace: str
    ) -> tuple[PathMapping, ...]:
        key = (backend.uid, namespace)
        held = self._in_namespace.get(key)
        if held is not None and held[0] == backend.resource_version:
            return held[1]
        mappings = tuple(spec.in_namespace(namespace).mappings)
        self._in_namespace[key] = (backend.resource_version, mappings)
        return mappings

    def owner_of(
        self, namespace: str, path: str
    ) -> tuple[FederationBackendResource, PathMapping, str] | None:
        """The backend whose pathMapping claims ``path`` in ``namespace`` (a cluster
        backend's, if it selects the namespace), its mapping and the remote path; the
        most specific pattern wins, then the oldest backend."""
        best: tuple[Any, ...] | None = None
        for backend, mappings in self._claiming(namespace):
            for mapping in mappings:
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
        current = self._drop(uid)
        if current is not None:
            for listener in self._removed_listeners:
                listener(current)

    def _drop(self, uid: str) -> FederationBackendResource | None:
        current = self._by_uid.pop(uid, None)
        for key in [k for k in self._in_namespace if k[0] == uid]:
            del self._in_namespace[key]
        if current is not None:
            self._uid_by_id.pop(current.id, None)
            uids = self._uids_by_namespace.get(current.namespace)
            if uids is not None:
                uids.discard(uid)
                if not uids:
                    del self._uids_by_namespace[current.namespace]
        return current

    def _replace(self, items: list[FederationBackendResource], kind: BackendKind) -> None:
        """A full listing of one kind: the backends of that kind now."""
        listed = {item.uid for item in items}
        for uid in [uid for uid, b in self._by_uid.items() if b.kind is kind]:
            if uid in listed:
                self._drop(uid)
            else:
                self.remove(uid)
        for item in items:
            self.upsert(item)

    # --- list + watch --------------------------------------------------------------

    def make_reflectors(self) -> list[Reflector]:
        reflectors = [r for store in self.stores for r in store.reflectors(_Feed(self, store.kind))]
        if self.namespace_index is not None and self.stores.serves(CLUSTER_FEDERATION_BACKEND):
            reflectors.append(self.namespace_index.reflector(self.stores.client))
        return reflectors

    async def run(self) -> None:
        """List and watch every kind until cancelled; ``synced`` once each is listed."""
        self.reflectors = self.make_reflectors()
        async with asyncio.TaskGroup() as group:
            for reflector in self.reflectors:
                group.create_task(reflector.run(), name=f"watch {reflector.path}")
            for reflector in self.reflectors:
                await reflector.synced.wait()
            self.synced.set()
