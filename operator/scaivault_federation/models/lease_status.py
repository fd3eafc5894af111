"""The status of the two leasing kinds: what the operator writes and reads back after a
restart. Lease ids and serial numbers only: a credential or a key never enters it."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .base import CamelModel
from .status import Condition


class PendingRevocation(CamelModel):
    """A replaced lease, revoked at ``revokeAt`` (its grace period over)."""

    lease_id: str
    revoke_at: datetime


class LeasedStatus(CamelModel):
    """What both kinds report."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    #: the Secret written
    secret_name: str | None = None
    #: when the current credentials or certificate were issued
    issued_at: datetime | None = None
    #: when they stop working (the lease's end, the certificate's notAfter)
    expires_at: datetime | None = None
    #: when the operator next renews (or re-issues)
    next_renewal_at: datetime | None = None
    #: new credentials or certificates issued to replace ones about to expire
    rotations: int = 0
    #: the lease id or serial number the rolloutRestartTargets last started with or were
    #: restarted onto: a Secret holding newer content owes them a restart
    restarted_for: str | None = None
    last_failure_reason: str | None = None
    last_failure_message: str | None = None
    last_failure_at: datetime | None = None


class LeaseStatus(LeasedStatus):
    """``FederationLease.status``."""

    lease_id: str | None = None
    #: seconds the lease was granted for when issued (its TTL)
    lease_duration: int | None = None
    renewable: bool | None = None
    #: when the last renewal (or the issue) was granted
    renewed_at: datetime | None = None
    #: when the token that holds the lease expires (the lease ends with it)
    token_expires_at: datetime | None = None
    renewals: int = 0
    #: replaced leases not yet revoked: tracked here until they are
    pending_revocations: list[PendingRevocation] = Field(default_factory=list)


class CertificateRevocation(CamelModel):
    """A replaced certificate, revoked at ``revokeAt`` (its grace period over)."""

    serial_number: str
    revoke_at: datetime


class CertificateStatus(LeasedStatus):
    """``FederationCertificate.status``."""

    serial_number: str | None = None
    not_after: datetime | None = None
    #: replaced certificates not yet revoked (deletionPolicy Revoke)
    pending_revocations: list[CertificateRevocation] = Field(default_factory=list)
