"""The backend health gauge the dashboard and the alerts read."""

from __future__ import annotations

from prometheus_client import REGISTRY

from scaivault_federation.models.status import Health
from scaivault_federation.sync.metrics import forget_backend, record_status


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
    forget_backend("ns", "b1", "fake")
    assert set(health("ns", "b1").values()) == {None}
