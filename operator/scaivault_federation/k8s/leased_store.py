"""The leasing kinds' I/O: their list + watch, finalizer and status writes, and the
Secret each writes (created, replaced, deleted or released). Objects leave parsed."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..labels import MANAGED_BY
from ..models.lease_status import LeasedStatus
from ..models.leased import LeasedKind, LeasedResource
from ..models.secret import LocalSecret
from .client import JSON, ConflictError, KubeClient, NotFoundError
from .reflector import Reflector, ReflectorHandler
from .secrets import decode_secret, encode_data


def _secret_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{base}/{name}" if name else base


class LeasedStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def reflectors(
        self, kind: LeasedKind[Any, Any], handler: ReflectorHandler, namespaces: Sequence[str]
    ) -> list[Reflector]:
        return [Reflector(self.client, path, handler) for path in kind.collections(namespaces)]

    async def write_status(self, resource: LeasedResource[Any, Any], status: LeasedStatus) -> None:
        url = resource.kind.path(resource.namespace, resource.name) + "/status"
        body: JSON = {"status": status.model_dump(by_alias=True, mode="json")}
        with contextlib.suppress(NotFoundError):  # deleted meanwhile
            await self.client.merge_patch(url, body)

    async def set_finalizers(
        self, resource: LeasedResource[Any, Any], finalizers: Sequence[str]
    ) -> bool:
        """False when the object changed since it was read (read it again)."""
        body: JSON = {
            "metadata": {
                "resourceVersion": resource.metadata.resource_version,
                "finalizers": list(finalizers) or None,
            }
        }
        try:
            await self.client.merge_patch(
                resource.kind.path(resource.namespace, resource.name), body
            )
        except ConflictError:
            return False
        except NotFoundError:
            pass
        return True

    async def get_secret(self, namespace: str, name: str) -> LocalSecret | None:
        try:
            return decode_secret(await self.client.get(_secret_path(namespace, name)))
        except NotFoundError:
            return None

    async def put_secret(
        self,
        namespace: str,
        name: str,
        *,
        secret_type: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        data: Mapping[str, bytes],
        existing: LocalSecret | None,
    ) -> None:
        """Create the Secret, or replace the one the resource wrote (guarded by its
        resourceVersion; one of another type is deleted and created again)."""
        metadata: JSON = {"name": name, "namespace": namespace}
        if existing is not None:
            metadata["labels"] = {**existing.labels, **labels}
            metadata["annotations"] = {**existing.annotations, **annotations}
        else:
            metadata["labels"], metadata["annotations"] = dict(labels), dict(annotations)
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": secret_type,
            "data": encode_data(data),
        }
        if existing is not None and (existing.type != secret_type or existing.immutable):
            await self.delete_secret(namespace, name, existing.resource_version)
            existing = None
        if existing is None:
            await self.client.post(_secret_path(namespace), body)
            return
        metadata["resourceVersion"] = existing.resource_version
        await self.client.put(_secret_path(namespace, name), body)

    async def delete_secret(self, namespace: str, name: str, resource_version: str | None) -> None:
        body: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        with contextlib.suppress(NotFoundError):
            await self.client.delete(_secret_path(namespace, name), body)

    async def release_secret(self, namespace: str, name: str, label: str) -> None:
        """Keep the Secret, no longer managed: drop the owner labels."""
        patch: JSON = {"metadata": {"labels": {MANAGED_BY: None, label: None}}}
        with contextlib.suppress(NotFoundError):
            await self.client.merge_patch(_secret_path(namespace, name), patch)
