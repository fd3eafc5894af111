"""A ClusterFederationBackend's sync: the outcome of one sync per namespace, added
up, and the status it leads to (totals, per-namespace figures, conflicts naming
their namespace). Pure, like :mod:`.status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..models.cluster import ClusterBackendStatus, ClusterConflict, NamespaceStatus
from .service import SyncOutcome
from .status import MAX_LISTED_CONFLICTS, after_sync


@dataclass
class ClusterOutcome(SyncOutcome):
    #: target namespace -> the outcome of its sync
    namespaces: dict[str, SyncOutcome] = field(default_factory=dict)
    #: namespaces no longer selected -> how many Secrets were released or deleted there
    dropped: dict[str, int] = field(default_factory=dict)

    def add(self, namespace: str, outcome: SyncOutcome) -> None:
        self.namespaces[namespace] = outcome
        self.secrets_synced += outcome.secrets_synced
        self.written += outcome.written
        self.deleted += outcome.deleted
        self.orphaned += outcome.orphaned
        self.duration_ms += outcome.duration_ms
        self.conflicts.extend(outcome.conflicts)
        self.item_errors.update({f"{namespace}:{p}": e for p, e in outcome.item_errors.items()})
        self.takeovers.extend(f"{p} (namespace {namespace})" for p in outcome.takeovers)


def after_cluster_sync(
    previous: ClusterBackendStatus,
    outcome: ClusterOutcome,
    *,
    latency_ms: float,
    now: datetime,
    generation: int | None,
    backend_id: str,
) -> ClusterBackendStatus:
    status = after_sync(
        previous,
        outcome,
        latency_ms=latency_ms,
        now=now,
        generation=generation,
        backend_id=backend_id,
    )
    known = {(x.namespace, x.path, x.reason): x.detected_at for x in previous.conflicts}
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
    assert isinstance(status, ClusterBackendStatus)  # a copy of ``previous``
    return status.model_copy(
        update={
            "conflicts": conflicts[:MAX_LISTED_CONFLICTS],
            "conflict_count": len(conflicts),
            "namespaces": namespaces,
            "namespace_count": len(namespaces),
        }
    )
