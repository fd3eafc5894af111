"""The status a sync of several namespaces leads to (a ClusterFederationBackend's:
totals, per-namespace figures, conflicts naming their namespace), from the
outcome of one sync per namespace added up (:meth:`.service.SyncOutcome.add`).
Pure, like :mod:`.status`."""

from __future__ import annotations

from datetime import datetime

from ..models.cluster import (
    ClusterBackendStatus,
    ClusterConflict,
    NamespaceStatus,
    cluster_status,
)
from ..models.status import BackendStatus
from .service import SyncOutcome
from .status import MAX_LISTED_CONFLICTS, after_sync


def after_cluster_sync(
    previous: BackendStatus,
    outcome: SyncOutcome,
    *,
    latency_ms: float,
    now: datetime,
    generation: int | None,
    backend_id: str,
) -> ClusterBackendStatus:
    before = cluster_status(previous)
    status = after_sync(
        before,
        outcome,
        latency_ms=latency_ms,
        now=now,
        generation=generation,
        backend_id=backend_id,
    )
    known = {(x.namespace, x.path, x.reason): x.detected_at for x in before.conflicts}
    conflicts = [
        ClusterConflict(
            namespace=namespace,
            path=x.path,
            remote_path=x.remote_path,
            reason=x.reason.value,
            detected_at=known.get((namespace, x.path, x.reason.value), now),
        )
        for namespace, result in sorted(outcome.namespaces.items())
        for x in result.conflicts
    ]
    namespaces = [
        NamespaceStatus(
            name=namespace,
            secrets_synced=result.secrets_synced,
            conflict_count=len(result.conflicts),
        )
        for namespace, result in sorted(outcome.namespaces.items())
    ]
    return status.model_copy(
        update={
            "conflicts": conflicts[:MAX_LISTED_CONFLICTS],
            "conflict_count": len(conflicts),
            "namespaces": namespaces,
            "namespace_count": len(namespaces),
        }
    )
