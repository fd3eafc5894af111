"""The backend health gauge the dashboard and the alerts read."""

from __future__ import annotations

from prometheus_client import REGISTRY

from scaivault_federation.models.status import Health
from scaivault_federation.sync.metrics import BackendMetrics, forget_backend, record_status
from scaivault_federation.sync.service import SyncOutcome


def health(namespace: str, backend: str) -> dict[str, float | None]:
    return {
        h.value: REGISTRY.get_sample_value(
            "scaivault_backend_status",
            {"namespace": namespace, "backend": backend, "type": "fake", "status": h.value},
        )
        for h in Health
    }


def test_one_status_at_a_time_and_gone_with_the_backend() -> None:
    record_status("ns", "b1", "fake", Health.DEGRADED)
    assert health("ns", "b1") == {"pending": 0, "healthy": 0, "degraded": 1, "error": 0}
    record_status("ns", "b1", "fake", Health.HEALTHY)
    assert health("ns", "b1") == {"pending": 0, "healthy": 1, "degraded": 0, "error": 0}
    forget_backend("ns", "b1")
    assert set(health("ns", "b1").values()) == {None}


def _series_naming(backend: str) -> list[str]:
    return [
        f"{metric.name}{sample.labels}"
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.labels.get("backend") == backend
    ]


def test_every_series_of_a_deleted_backend_goes_whatever_its_types_and_reasons() -> None:
    for backend_type in ("fake", "hashicorp-vault"):  # its type changed once
        metrics = BackendMetrics("ns", "b2", backend_type)
        metrics.record_sync(SyncOutcome(secrets_synced=3, written=2, deleted=1, orphaned=1))
        metrics.record_success(12.0)
        metrics.record_error("BackendUnavailable")
        metrics.record_error("InvalidConfig")
        metrics.record_restart("Deployment", "ok")
        record_status("ns", "b2", backend_type, Health.HEALTHY)
    metrics = BackendMetrics("ns", "b3", "fake")
    metrics.record_error("BackendUnavailable")
    assert len(_series_naming("b2")) > 20
    forget_backend("ns", "b2")
    assert _series_naming("b2") == []
    assert _series_naming("b3") != []  # another backend's stay
