"""FederationBackend I/O: every REST path, patch and status write of the CR.

Objects leave here parsed (:class:`FederationBackendResource`); callers never
build a URL or a patch body of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..labels import GROUP, KIND, PLURAL, SYNC_PATHS_ANNOTATION, SYNC_REQUESTED_ANNOTATION, VERSION
from ..models.resource import FederationBackendResource, paths_to_request, sync_paths_value
from ..models.spec import BackendSpec
from ..models.status import BackendStatus
from ..paths import PathScope
from .client import JSON, ConflictError, KubeClient, NotFoundError
from .watch import list_all, watch_events

COLLECTION = f"/apis/{GROUP}/{VERSION}/{PLURAL}"


def backend_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


@dataclass(frozen=True)
class BackendEvent:
    """A watch event: ``ADDED``, ``MODIFIED`` or ``DELETED`` and the object, or a
    ``BOOKMARK`` (no object) that only moves the resourceVersion on."""

    type: str
    resource: FederationBackendResource | None
    resource_version: str


class BackendStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def get(self, namespace: str, name: str) -> FederationBackendResource:
        """The backend; :class:`NotFoundError` when there is none."""
        return FederationBackendResource.from_object(
            await self.client.get(backend_path(namespace, name))
        )

    async def create(
        self, namespace: str, name: str, spec: BackendSpec
    ) -> FederationBackendResource:
        obj: JSON = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec.to_cr(),
        }
        return FederationBackendResource.from_object(
            await self.client.post(backend_path(namespace), obj)
        )

    async def patch_spec(
        self, namespace: str, name: str, changes: Mapping[str, Any], resource_version: str
    ) -> FederationBackendResource:
        """A merge patch of the spec, refused (409) when the object changed since
        ``resource_version``."""
        body: JSON = {"metadata": {"resourceVersion": resource_version}, "spec": dict(changes)}
        return FederationBackendResource.from_object(
            await self.client.merge_patch(backend_path(namespace, name), body)
        )

    async def request_sync(
        self,
        namespace: str,
        name: str,
        stamp: str,
        paths: PathScope | None = None,
        *,
        attempts: int = 5,
    ) -> FederationBackendResource:
        """Set the manual-sync annotation to ``stamp``: a full sync, or with ``paths``
        a sync of those paths only (the sync-paths annotation, naming ``stamp``).

        A per-path request is merged with a request the operator has not acted on
        yet (see :func:`paths_to_request`), guarded by the object's
        resourceVersion and retried when someone else changed it meanwhile."""
        url = backend_path(namespace, name)
        if paths is None:
            patch: JSON = {
                "metadata": {
                    "annotations": {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: None}
                }
            }
            return FederationBackendResource.from_object(await self.client.merge_patch(url, patch))
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
                return FederationBackendResource.from_object(
                    await self.client.merge_patch(url, patch)
                )
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
            result = await self.client.delete(backend_path(namespace, name), options)
        except NotFoundError:
            return None
        if result.get("kind") == KIND:
            return FederationBackendResource.from_object(result)
        return None

    async def write_status(self, namespace: str, name: str, status: BackendStatus) -> None:
        body: JSON = {"status": status.to_cr()}
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: nothing to report on
            await self.client.merge_patch(backend_path(namespace, name) + "/status", body)

    async def list_all(self) -> tuple[list[FederationBackendResource], str]:
        """Every backend in the cluster and the list's resourceVersion."""
        items, version = await list_all(self.client, COLLECTION)
        return [FederationBackendResource.from_object(item) for item in items], version

    async def watch(self, resource_version: str) -> AsyncIterator[BackendEvent]:
        """Changes after ``resource_version`` until the server ends the watch; see
        :func:`watch_events` for the errors."""
        async for event in watch_events(self.client, COLLECTION, resource_version):
            resource_version = event.resource_version or resource_version
            parsed = (
                None
                if event.type == "BOOKMARK"
                else FederationBackendResource.from_object(event.object)
            )
            yield BackendEvent(event.type, parsed, resource_version)
