"""ClusterFederationBackend I/O: the same calls as :class:`BackendStore`, on the
cluster-scoped resource (every ``namespace`` argument is ignored: it has none)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..labels import CLUSTER_KIND, CLUSTER_PLURAL, GROUP, VERSION
from ..models.cluster import ClusterBackendResource
from .backend_store import ResourceStore
from .client import JSON


def cluster_backend_path(name: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/{CLUSTER_PLURAL}"
    return f"{base}/{name}" if name else base


class ClusterBackendStore(ResourceStore[ClusterBackendResource]):
    kind = CLUSTER_KIND
    collection = cluster_backend_path()

    def url(self, namespace: str, name: str | None = None) -> str:
        return cluster_backend_path(name)

    def parse(self, obj: Mapping[str, Any]) -> ClusterBackendResource:
        return ClusterBackendResource.from_object(obj)

    def metadata(self, namespace: str, name: str) -> JSON:
        return {"name": name}
