"""Kubernetes Secrets as the local storage of synced paths.

Reads convert Secrets into :class:`LocalSecret`; writes build the object from
what exists (so other labels and annotations survive) plus ours.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import secrets as pysecrets
import time
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..labels import (
    BACKEND_LABEL,
    CLUSTER_BACKEND_LABEL,
    DECLARED_ANNOTATION,
    MANAGED_BY,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
    SYNCED_AT_ANNOTATION,
    managed_selector,
    owner_labels,
)
from ..models.secret import LocalSecret, SecretShape, holds_a_path, merge_metadata
from .client import JSON, ConflictError, KubeClient, NotFoundError

if TYPE_CHECKING:
    from .secret_cache import ManagedSecretCache

MAC_KEY_SECRET = "scaivault-federation-mac-key"
MAC_KEY_FIELD = "key"


def _secrets_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{base}/{name}" if name else base


def decode_secret(obj: Mapping[str, Any]) -> LocalSecret:
    meta = obj.get("metadata", {})
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return LocalSecret(
        name=meta["name"],
        data=data,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        resource_version=meta.get("resourceVersion"),
        type=obj.get("type", "Opaque"),
        immutable=bool(obj.get("immutable")),
    )


def encode_data(data: Mapping[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in data.items()}


def now_rfc3339() -> str:
    return _rfc3339(int(time.time()))


@functools.lru_cache(maxsize=2)
def _rfc3339(second: int) -> str:
    # formatted once a second: a large sync stamps thousands of Secrets in each
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SecretStore:
    """Secrets through the apiserver; with a :class:`ManagedSecretCache`, the managed
    ones are read from it once it holds a full listing, and every write of ours is
    applied to it from the apiserver's answer."""

    def __init__(self, client: KubeClient, cache: ManagedSecretCache | None = None) -> None:
        self.client = client
        self.cache = cache

    def _cached(self, namespace: str, obj: JSON) -> None:
        if self.cache is not None and obj.get("kind") == "Secret":
            self.cache.upsert(namespace, obj)

    async def list_managed(self, namespace: str, backend_name: str) -> list[LocalSecret]:
        if self.cache is not None and self.cache.covers(namespace):
            return self.cache.managed(namespace, backend_name)
        doc = await self.client.get(
            _secrets_path(namespace), params={"labelSelector": managed_selector(backend_name)}
        )
        return [decode_secret(item) for item in doc.get("items", [])]

    async def managed_at(
        self, namespace: str, backend_name: str, names: Collection[str], paths: Collection[str]
    ) -> list[LocalSecret]:
        if self.cache is not None and self.cache.covers(namespace):
            return self.cache.managed_at(namespace, backend_name, names, paths)
        wanted, held = set(names), set(paths)
        return [
            s
            for s in await self.list_managed(namespace, backend_name)
            if s.name in wanted or s.path in held
        ]

    async def count_holding(self, namespace: str, backend_name: str) -> int:
        if self.cache is not None and self.cache.covers(namespace):
            return self.cache.count_holding(namespace, backend_name)
        return sum(map(holds_a_path, await self.list_managed(namespace, backend_name)))

    async def get(self, namespace: str, name: str) -> LocalSecret | None:
        try:
            return decode_secret(await self.client.get(_secrets_path(namespace, name)))
        except NotFoundError:
            return None

    async def write_synced(
        self,
        namespace: str,
        name: str,
        *,
        backend_name: str,
        path: str,
        remote_path: str,
        remote_version: str | None,
        data: Mapping[str, bytes],
        mac: str,
        existing: LocalSecret | None,
        shape: SecretShape | None = None,
    ) -> None:
        """Create or replace (with optimistic concurrency) a synced Secret.

        With a ``shape`` (from ``spec.target``) the Secret gets its type, its
        declared labels and annotations and ``immutable``; a Secret whose type
        differs, or that is immutable, is deleted and created again."""
        labels, annotations = merge_metadata(existing, shape)
        labels.update(owner_labels(backend_name))
        annotations.pop(ORPHANED_AT_ANNOTATION, None)
        annotations.pop(REMOTE_VERSION_ANNOTATION, None)
        annotations.update(
            {
                PATH_ANNOTATION: path,
                REMOTE_PATH_ANNOTATION: remote_path,
                SOURCE_MAC_ANNOTATION: mac,
                SYNCED_AT_ANNOTATION: now_rfc3339(),
            }
        )
        if remote_version is not None:
            annotations[REMOTE_VERSION_ANNOTATION] = remote_version
        metadata: JSON = {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        }
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": shape.type if shape else existing.type if existing else "Opaque",
            "data": encode_data(data),
        }
        if shape is not None and shape.immutable:
            body["immutable"] = True
        if existing is not None and shape is not None and shape.needs_recreate(existing):
            await self.delete(namespace, name, existing.resource_version)
            existing = None
        if existing is None:
            written = await self.client.post(_secrets_path(namespace), body)
        else:
            metadata["resourceVersion"] = existing.resource_version
            written = await self.client.put(_secrets_path(namespace, name), body)
        self._cached(namespace, written)

    async def mark_orphaned(self, namespace: str, name: str) -> None:
        patch: JSON = {"metadata": {"annotations": {ORPHANED_AT_ANNOTATION: now_rfc3339()}}}
        self._cached(
            namespace, await self.client.merge_patch(_secrets_path(namespace, name), patch)
        )

    async def delete(self, namespace: str, name: str, resource_version: str | None) -> None:
        body: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        if self.cache is not None:
            self.cache.deleted_by_us(namespace, name)
        with contextlib.suppress(NotFoundError):
            await self.client.delete(_secrets_path(namespace, name), body)

    async def release(self, namespace: str, names: Iterable[str]) -> None:
        """Stop managing Secrets but keep them: drop our labels and sync annotations."""
        drop = dict.fromkeys(
            (
                SOURCE_MAC_ANNOTATION,
                REMOTE_VERSION_ANNOTATION,
                ORPHANED_AT_ANNOTATION,
                DECLARED_ANNOTATION,
            )
        )
        for name in names:
            patch: JSON = {
                "metadata": {
                    "labels": {MANAGED_BY: None, BACKEND_LABEL: None, CLUSTER_BACKEND_LABEL: None},
                    "annotations": drop,
                }
            }
            with contextlib.suppress(NotFoundError):
                released = await self.client.merge_patch(_secrets_path(namespace, name), patch)
                self._cached(namespace, released)

    async def put_local(
        self,
        namespace: str,
        name: str,
        *,
        path: str,
        data: Mapping[str, bytes],
        existing: LocalSecret | None,
    ) -> None:
        """Create (``existing`` None) or replace, with optimistic concurrency, a Secret
        written through the API: it holds ``path`` and is managed by no backend; other
        labels and annotations of ``existing`` stay."""
        metadata: JSON = {"name": name, "namespace": namespace}
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": existing.type if existing else "Opaque",
            "metadata": metadata,
            "data": encode_data(data),
        }
        if existing is None:
            metadata["annotations"] = {PATH_ANNOTATION: path}
            await self.client.post(_secrets_path(namespace), body)
            return
        metadata.update(
            labels=dict(existing.labels),
            annotations={**existing.annotations, PATH_ANNOTATION: path},
            resourceVersion=existing.resource_version,
        )
        await self.client.put(_secrets_path(namespace, name), body)

    async def load_or_create_mac_key(self, namespace: str) -> bytes:
        """The operator-held HMAC key, created once and then only read."""
        for _ in range(3):
            try:
                obj = await self.client.get(_secrets_path(namespace, MAC_KEY_SECRET))
                return base64.b64decode(obj["data"][MAC_KEY_FIELD])
            except NotFoundError:
                pass
            body: JSON = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": MAC_KEY_SECRET,
                    "labels": {"app.kubernetes.io/name": "scaivault-federation"},
                },
                "type": "Opaque",
                "data": {MAC_KEY_FIELD: base64.b64encode(pysecrets.token_bytes(32)).decode()},
            }
            try:
                await self.client.post(_secrets_path(namespace), body)
            except ConflictError:
                continue
        raise RuntimeError(f"could not read or create Secret {namespace}/{MAC_KEY_SECRET}")
