"""The expiry metrics of one FederationLease or FederationCertificate (labels name
objects only, never a value), and their removal when it is deleted."""

from __future__ import annotations

from datetime import datetime

from .. import expiry_metrics as m
from ..metric_series import remove_series


class LeasedMetrics:
    def __init__(self, namespace: str, kind: str, resource: str) -> None:
        self.labels = (namespace, kind, resource)

    def expires(self, secret: str, at: datetime | None) -> None:
        if at is not None:
            m.SECRET_EXPIRY.labels(*self.labels, secret).set(at.timestamp())

    def next_renewal(self, at: datetime | None) -> None:
        if at is not None:
            m.LEASE_NEXT_RENEWAL.labels(*self.labels).set(at.timestamp())

    def renewed(self) -> None:
        m.LEASE_RENEWALS.labels(*self.labels).inc()
        m.LEASE_RENEWAL_FAILING.labels(*self.labels).set(0)

    def rotated(self) -> None:
        m.LEASE_ROTATIONS.labels(*self.labels).inc()
        m.LEASE_RENEWAL_FAILING.labels(*self.labels).set(0)

    def succeeded(self) -> None:
        m.LEASE_RENEWAL_FAILING.labels(*self.labels).set(0)

    def failed(self, reason: str) -> None:
        m.LEASE_RENEWAL_FAILURES.labels(*self.labels, reason).inc()
        m.LEASE_RENEWAL_FAILING.labels(*self.labels).set(1)

    def forget(self) -> None:
        namespace, kind, resource = self.labels
        matching = {"namespace": namespace, "kind": kind, "resource": resource}
        for metric, names in (
            (m.SECRET_EXPIRY, m.SECRET),
            (m.LEASE_NEXT_RENEWAL, m.LEASE),
            (m.LEASE_RENEWALS, m.LEASE),
            (m.LEASE_ROTATIONS, m.LEASE),
            (m.LEASE_RENEWAL_FAILURES, [*m.LEASE, "reason"]),
            (m.LEASE_RENEWAL_FAILING, m.LEASE),
        ):
            remove_series(metric, names, matching)
