"""FederationBackend I/O: every REST path, patch and status write of the CR.

Objects leave here parsed (:class:`FederationBackendResource`); callers never
build a URL or a patch body of their own. :class:`ResourceStore` holds what
FederationBackends and ClusterFederationBackends share (everything but the
URL, the kind and the parser); a cluster backend's store takes the same
``namespace`` arguments and ignores them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from ..labels import GROUP, KIND, PLURAL, SYNC_PATHS_ANNOTATION, SYNC_REQUESTED_ANNOTATION, VERSION
from ..models.resource import FederationBackendResource, paths_to_request, sync_paths_value
from ..models.spec import BackendSpec
from ..models.status import BackendStatus
from ..paths import PathScope
from .client import JSON, ConflictError, KubeClient, NotFoundError
from .reflector import Reflector, ReflectorHandler

COLLECTION = f"/apis/{GROUP}/{VERSION}/{PLURAL}"

R = TypeVar("R", bound=FederationBackendResource)


def backend_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


def backend_collections(namespaces: Sequence[str]) -> list[str]:
    """The FederationBackend collections to watch: each of ``namespaces``, or every
    namespace when none is named."""
    return [backend_path(ns) for ns in namespaces] if namespaces else [COLLECTION]


class ResourceStore(Generic[R]):
    """The REST calls of one backend kind."""

    kind: ClassVar[str]
    #: every object of the kind, for a list + watch
    collection: ClassVar[str]

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def url(self, namespace: str, name: str | None = None) -> str:
        raise NotImplementedError

    def parse(self, obj: Mapping[str, Any]) -> R:
        raise NotImplementedError

    def metadata(self, namespace: str, name: str) -> JSON:
        return {"name": name, "namespace": namespace}

    def reflector(self, handler: ReflectorHandler) -> Reflector:
        """A list + watch of every object of the kind, fed to ``handler``."""
        return Reflector(self.client, self.collection, handler)

    async def get(self, namespace: str, name: str) -> R:
        """The backend; :class:`NotFoundError` when there is none."""
        return self.parse(await self.client.get(self.url(namespace, name)))

    async def create(self, namespace: str, name: str, spec: BackendSpec) -> R:
        obj: JSON = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": self.kind,
            "metadata": self.metadata(namespace, name),
            "spec": spec.to_cr(),
        }
        return self.parse(await self.client.post(self.url(namespace), obj))

    async def patch_spec(
        self, namespace: str, name: str, changes: Mapping[str, Any], resource_version: str
    ) -> R:
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
        attempts: int = 5,
    ) -> R:
        """Set the manual-sync annotation to ``stamp``: a full sync, or with ``paths``
        a sync of those paths only (the sync-paths annotation, naming ``stamp``).

        A per-path request is merged with a request the operator has not acted on
        yet (see :func:`paths_to_request`), guarded by the object's
        resourceVersion and retried when someone else changed it meanwhile."""
        url = self.url(namespace, name)
        if paths is None:
            patch: JSON = {
                "metadata": {
                    "annotations": {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: None}
                }
            }
            return self.parse(await self.client.merge_patch(url, patch))
        for attempt in range(attempts):
            current = await self.get(namespace, name)
            wanted = paths_to_request(current, paths, datetime.now(UTC))
            value = None if wanted is None else sync_paths_value(stamp, wanted.texts)
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

    async def delete(self, namespace: str, name: str, uid: str) -> R | None:
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
        if result.get("kind") == self.kind:
            return self.parse(result)
        return None

    async def set_finalizers(self, resource: R, finalizers: Sequence[str]) -> bool:
        """Make the object's finalizers ``finalizers``, unless it changed since
        ``resource`` was read (False: read it again) or is gone (True)."""
        body: JSON = {
            "metadata": {
                "resourceVersion": resource.resource_version,
                "finalizers": list(finalizers) or None,
            }
        }
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


class BackendStore(ResourceStore[FederationBackendResource]):
    kind = KIND
    collection = COLLECTION

    def url(self, namespace: str, name: str | None = None) -> str:
        return backend_path(namespace, name)

    def parse(self, obj: Mapping[str, Any]) -> FederationBackendResource:
        return FederationBackendResource.from_object(obj)
