"""ClusterFederationBackend I/O: its status writes (kopf does the rest)."""

from __future__ import annotations

import contextlib

from ..labels import CLUSTER_PLURAL, GROUP, VERSION
from ..models.status import BackendStatus
from .client import JSON, KubeClient, NotFoundError


def cluster_backend_path(name: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/{CLUSTER_PLURAL}"
    return f"{base}/{name}" if name else base


class ClusterBackendStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def write_status(self, namespace: str, name: str, status: BackendStatus) -> None:
        """The status of the cluster backend ``name`` (``namespace`` is ignored: the
        resource has none)."""
        body: JSON = {"status": status.to_cr()}
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: nothing to report on
            await self.client.merge_patch(cluster_backend_path(name) + "/status", body)
