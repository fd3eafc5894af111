"""Backend I/O: every REST path, patch and status write of the CRs of both kinds.

Objects leave here parsed (:class:`FederationBackendResource`); callers never
build a URL or a patch body of their own. A :class:`BackendStore` makes the
calls of one kind (its paths and parser come from the kind's
:class:`..models.kind.BackendKind`; a cluster-scoped kind's store takes the
same ``namespace`` arguments and ignores them); :class:`BackendStores` holds
one per kind served and routes the calls that name a resource to its kind's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..labels import GROUP, SYNC_PATHS_ANNOTATION, SYNC_REQUESTED_ANNOTATION, VERSION
from ..models.kind import BackendKind
from ..models.resource import FederationBackendResource, sync_paths_to_set
from ..models.spec import BackendSpec
from ..models.status import BackendStatus
from ..paths import PathScope
from .client import JSON, ConflictError, KubeClient, NotFoundError
from .reflector import Reflector, ReflectorHandler


class BackendStore:
    """The REST calls of one backend kind."""

    def __init__(self, client: KubeClient, kind: BackendKind) -> None:
        self.client = client
        self.kind = kind

    def url(self, namespace: str, name: str | None = None) -> str:
        return self.kind.path(namespace, name)

    def parse(self, obj: Mapping[str, Any]) -> FederationBackendResource:
        return FederationBackendResource.from_object(obj, self.kind)

    def reflectors(
        self, handler: ReflectorHandler, namespaces: Sequence[str] = ()
    ) -> list[Reflector]:
        """A list + watch of the kind's objects (in ``namespaces``, or everywhere), fed to
        ``handler``."""
        return [Reflector(self.client, path, handler) for path in self.kind.collections(namespaces)]

    async def get(self, namespace: str, name: str) -> FederationBackendResource:
        """The backend; :class:`NotFoundError` when there is none."""
        return self.parse(await self.client.get(self.url(namespace, name)))

    async def create(
        self, namespace: str, name: str, spec: BackendSpec
    ) -> FederationBackendResource:
        metadata: JSON = {"name": name}
        if self.kind.namespaced:
            metadata["namespace"] = namespace
        obj: JSON = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": self.kind.kind,
            "metadata": metadata,
            "spec": spec.to_cr(),
        }
        return self.parse(await self.client.post(self.url(namespace), obj))

    async def patch_spec(
        self, namespace: str, name: str, changes: Mapping[str, Any], resource_version: str
    ) -> FederationBackendResource:
        """A merge patch of the spec, refused (409) when the object changed since
        ``resource_version``."""
        body: JSON = {"metadata": {"resourceVersion": resource_version}, "spec": dict(changes)}
        return self.parse(await self.client.merge_patch(self.url(namespace, name), body))

    async def request_sync(
        self,
        namespace: str,
        name: str,
        stamp: str,
        paths: PathScope | None = None,
        *,
        known: FederationBackendResource | None = None,
        attempts: int = 5,
    ) -> FederationBackendResource:
        """Set the manual-sync annotation to ``stamp``: a full sync, or with ``paths``
        a sync of those paths only (the sync-paths annotation, naming ``stamp``).

        A per-path request is merged with a request the operator has not acted on
        yet (see :func:`sync_paths_to_set`), guarded by the object's
        resourceVersion and retried when someone else changed it meanwhile. The
        first try starts from ``known`` (the object as a watch last showed it), with
        no read; a retry reads the object."""
        url = self.url(namespace, name)
        if paths is None:
            patch: JSON = {
                "metadata": {
                    "annotations": {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: None}
                }
            }
            return self.parse(await self.client.merge_patch(url, patch))
        for attempt in range(attempts):
            if attempt == 0 and known is not None:
                current = known
            else:
                current = await self.get(namespace, name)
            value = sync_paths_to_set(current, paths, stamp, datetime.now(UTC))
            patch = {
                "metadata": {
                    "resourceVersion": current.resource_version,
                    "annotations": {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: value},
                }
            }
            try:
                return self.parse(await self.client.merge_patch(url, patch))
            except ConflictError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    async def delete(self, namespace: str, name: str, uid: str) -> FederationBackendResource | None:
        """Delete the object with ``uid``; the object while its finalizer holds it,
        ``None`` once it is gone (or was already)."""
        options: JSON = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"uid": uid},
        }
        try:
            result = await self.client.delete(self.url(namespace, name), options)
        except NotFoundError:
            return None
        if result.get("kind") == self.kind.kind:
            return self.parse(result)
        return None

    async def set_finalizers(
        self,
        resource: FederationBackendResource,
        finalizers: Sequence[str],
        drop: Sequence[str] = (),
    ) -> bool:
        """Make the object's finalizers ``finalizers`` (and remove its annotations
        ``drop``), unless it changed since ``resource`` was read (False: read it again)
        or is gone (True)."""
        metadata: JSON = {
            "resourceVersion": resource.resource_version,
            "finalizers": list(finalizers) or None,
        }
        if drop:
            metadata["annotations"] = dict.fromkeys(drop)
        body: JSON = {"metadata": metadata}
        try:
            await self.client.merge_patch(self.url(resource.namespace, resource.name), body)
        except ConflictError:
            return False
        except NotFoundError:
            pass
        return True

    async def write_status(self, namespace: str, name: str, status: BackendStatus) -> None:
        body: JSON = {"status": status.to_cr()}
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: nothing to report on
            await self.client.merge_patch(self.url(namespace, name) + "/status", body)


class BackendStores:
    """A :class:`BackendStore` for each kind served; the writes the sync engine makes
    about a resource go to its kind's."""

    def __init__(self, client: KubeClient, kinds: Iterable[BackendKind]) -> None:
        self.client = client
        self._by_kind = {kind: BackendStore(client, kind) for kind in kinds}

    def __iter__(self) -> Iterator[BackendStore]:
        return iter(self._by_kind.values())

    def __getitem__(self, kind: BackendKind) -> BackendStore:
        return self._by_kind[kind]

    def serves(self, kind: BackendKind) -> bool:
        return kind in self._by_kind

    async def write_status(
        self, resource: FederationBackendResource, status: BackendStatus
    ) -> None:
        await self[resource.kind].write_status(resource.namespace, resource.name, status)

    async def set_finalizers(
        self,
        resource: FederationBackendResource,
        finalizers: Sequence[str],
        drop: Sequence[str] = (),
    ) -> bool:
        return await self[resource.kind].set_finalizers(resource, finalizers, drop)
