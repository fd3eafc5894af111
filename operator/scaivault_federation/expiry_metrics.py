"""The metrics of when managed Secrets expire and how their renewal goes.

One definition for every producer: the leasing runtime (dynamic credentials and
certificates) and the sync engine (static secrets whose backend knows an expiry
or a next rotation). Labels name the Kubernetes objects, never a value:

- ``namespace``, ``kind`` and ``resource``: the resource that manages the Secret
  (a FederationLease, a FederationCertificate, a FederationBackend …);
- ``secret``: the managed Secret's name.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

#: labels of a managed Secret
SECRET = ["namespace", "kind", "resource", "secret"]
#: labels of a leasing resource
LEASE = ["namespace", "kind", "resource"]

SECRET_EXPIRY = Gauge(
    "scaivault_secret_expiry_timestamp_seconds",
    "When the managed Secret's content expires (a lease's end, a certificate's notAfter, "
    "or the backend's expiry or next rotation of a synced secret), in Unix seconds.",
    SECRET,
)
LEASE_NEXT_RENEWAL = Gauge(
    "scaivault_lease_next_renewal_timestamp_seconds",
    "When the operator next renews the lease or re-issues the certificate, in Unix seconds.",
    LEASE,
)
LEASE_RENEWALS = Counter("scaivault_lease_renewals_total", "Leases extended by a renewal.", LEASE)
LEASE_ROTATIONS = Counter(
    "scaivault_lease_rotations_total",
    "New credentials or certificates issued to replace ones about to expire.",
    LEASE,
)
LEASE_RENEWAL_FAILURES = Counter(
    "scaivault_lease_renewal_failures_total",
    "Failed attempts to renew, re-issue or revoke, by reason.",
    [*LEASE, "reason"],
)
LEASE_RENEWAL_FAILING = Gauge(
    "scaivault_lease_renewal_failing",
    "1 while the last attempt to renew or re-issue failed, else 0.",
    LEASE,
)
