"""Prometheus metrics of the operator. Labels name backends, never paths or values."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from ..backends.base import CallCounter
from ..metric_series import remove_series
from ..models.status import Health
from .expiry import EXPIRIES
from .service import SyncOutcome

BACKEND = ("namespace", "backend", "type")

#: by namespace and type, not by backend: a histogram per backend is some 15 series
#: each, thousands in a large fleet (each backend's last duration is a gauge)
SYNC_DURATION = Histogram(
    "scaivault_sync_duration_seconds",
    "Duration of syncs, by namespace and backend type.",
    ("namespace", "type"),
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LAST_SYNC_DURATION = Gauge(
    "scaivault_last_sync_duration_seconds", "Duration of the backend's last sync.", BACKEND
)
SECRETS_SYNCED = Gauge(
    "scaivault_secrets_synced", "Paths whose Secret holds the remote value.", BACKEND
)
CONFLICTS = Gauge("scaivault_conflicts", "Conflicts listed in the backend's status.", BACKEND)
SECRET_WRITES = Counter(
    "scaivault_secret_writes_total", "Secrets written, by action.", (*BACKEND, "action")
)
SYNC_ERRORS = Counter(
    "scaivault_sync_errors_total", "Failed syncs and probes, by reason.", (*BACKEND, "reason")
)
LAST_SUCCESS = Gauge(
    "scaivault_last_successful_sync_timestamp_seconds",
    "Unix time of the last successful sync or probe.",
    BACKEND,
)
BACKEND_CALLS = Counter(
    "scaivault_backend_calls_total",
    "Calls to backend APIs, by operation and result.",
    ("type", "operation", "result"),
)
ROLLOUT_RESTARTS = Counter(
    "scaivault_rollout_restarts_total",
    "Workloads restarted after a sync changed a Secret, by kind and result.",
    (*BACKEND, "kind", "result"),
)
CONNECTION_LATENCY = Gauge(
    "scaivault_backend_latency_milliseconds", "Latency of the last connection probe.", BACKEND
)
BACKEND_STATUS = Gauge(
    "scaivault_backend_status",
    "1 for the backend's health as its status says it (pending, healthy, degraded, error), "
    "0 for the others.",
    (*BACKEND, "status"),
)


class BackendMetrics:
    """The metrics of one FederationBackend."""

    def __init__(self, namespace: str, backend: str, backend_type: str) -> None:
        self.labels = (namespace, backend, backend_type)
        self.backend_type = backend_type

    def record_sync(self, outcome: SyncOutcome) -> None:
        namespace, _, backend_type = self.labels
        SYNC_DURATION.labels(namespace, backend_type).observe(outcome.duration_ms / 1000)
        LAST_SYNC_DURATION.labels(*self.labels).set(outcome.duration_ms / 1000)
        SECRETS_SYNCED.labels(*self.labels).set(outcome.secrets_synced)
        CONFLICTS.labels(*self.labels).set(len(outcome.conflicts))
        for action, count in (
            ("written", outcome.written),
            ("deleted", outcome.deleted),
            ("orphaned", outcome.orphaned),
        ):
            if count:
                SECRET_WRITES.labels(*self.labels, action).inc(count)

    def record_expiries(self, kind: str, resource: str, outcome: SyncOutcome) -> None:
        """The expiries of the Secrets the sync left managed (``kind`` ``resource``: the
        backend as the metric names it)."""
        EXPIRIES.record(
            self.labels[:2],
            kind,
            resource,
            outcome.expiries,
            complete=outcome.paths is None,
            dropped=outcome.dropped,
        )

    def record_success(self, latency_ms: float) -> None:
        LAST_SUCCESS.labels(*self.labels).set_to_current_time()
        CONNECTION_LATENCY.labels(*self.labels).set(latency_ms)

    def record_restart(self, kind: str, result: str) -> None:
        ROLLOUT_RESTARTS.labels(*self.labels, kind, result).inc()

    def record_error(self, reason: str) -> None:
        SYNC_ERRORS.labels(*self.labels, reason).inc()

    def drain_calls(self, calls: CallCounter) -> None:
        """Move what ``calls`` counted into the exported counter, and reset it."""
        for (operation, result), count in calls.snapshot().items():
            if count > 0:
                BACKEND_CALLS.labels(self.backend_type, operation, result).inc(count)
        calls.reset()


def record_status(namespace: str, backend: str, backend_type: str, health: Health) -> None:
    """The backend's health, as the status it was just given says."""
    for value in Health:
        BACKEND_STATUS.labels(namespace, backend, backend_type, value.value).set(
            1 if value is health else 0
        )


#: every metric labelled by backend, with its label names
BY_BACKEND: tuple[tuple[MetricWrapperBase, tuple[str, ...]], ...] = (
    (LAST_SYNC_DURATION, BACKEND),
    (SECRETS_SYNCED, BACKEND),
    (CONFLICTS, BACKEND),
    (SECRET_WRITES, (*BACKEND, "action")),
    (SYNC_ERRORS, (*BACKEND, "reason")),
    (LAST_SUCCESS, BACKEND),
    (ROLLOUT_RESTARTS, (*BACKEND, "kind", "result")),
    (CONNECTION_LATENCY, BACKEND),
    (BACKEND_STATUS, (*BACKEND, "status")),
)


def forget_backend(namespace: str, backend: str) -> None:
    """Drop every series of a deleted backend (of any type it had) so none lingers,
    the expiries of its Secrets too."""
    for metric, names in BY_BACKEND:
        remove_series(metric, names, {"namespace": namespace, "backend": backend})
    EXPIRIES.forget(namespace, backend)


def serve_metrics(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104
    """``/metrics`` on ``port`` in a background thread."""
    start_http_server(port, addr=addr)
