"""How the HTTP API shows FederationLeases and FederationCertificates (read-only): each
one's backend, path and Secret, whether it is ready, and when what it holds expires
and is next renewed. Lease ids, keys and credentials are never part of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .leased import CertificateResource, LeasedResource, LeaseResource
from .status import ConditionStatus


class LeasedView(BaseModel):
    """What a FederationLease and a FederationCertificate both show."""

    namespace: str
    name: str
    backend_ref: str | None = Field(description="the Vault FederationBackend it uses")
    path: str | None
    secret_name: str | None = Field(description="the Secret it writes, once written")
    ready: bool | None = Field(description="its Ready condition (null: not reported yet)")
    reason: str | None = Field(description="the Ready condition's reason")
    message: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = Field(
        description="when the credentials or the certificate stop working"
    )
    next_renewal_at: datetime | None = None
    rotations: int = 0
    last_failure_reason: str | None = None
    last_failure_at: datetime | None = None


class LeaseView(LeasedView):
    """A FederationLease: dynamic credentials under a lease."""

    renewable: bool | None = None
    renewals: int = 0
    token_expires_at: datetime | None = Field(
        default=None, description="when the Vault token holding the lease expires"
    )


class CertificateView(LeasedView):
    """A FederationCertificate: a certificate from a PKI engine."""

    common_name: str | None = None
    serial_number: str | None = None


class LeaseList(BaseModel):
    leases: list[LeaseView]


class CertificateList(BaseModel):
    certificates: list[CertificateView]


def _common(resource: LeasedResource[Any, Any]) -> dict[str, Any]:
    spec, status = resource.spec, resource.status
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    return {
        "namespace": resource.namespace,
        "name": resource.name,
        "backend_ref": resource.raw_spec.get("backendRef") if spec is None else spec.backend_ref,
        "path": resource.raw_spec.get("path") if spec is None else spec.path,
        "secret_name": status.secret_name,
        "ready": None if ready is None else ready.status is ConditionStatus.TRUE,
        "reason": None if ready is None else ready.reason,
        "message": None if ready is None else ready.message or None,
        "issued_at": status.issued_at,
        "expires_at": status.expires_at,
        "next_renewal_at": status.next_renewal_at,
        "rotations": status.rotations,
        "last_failure_reason": status.last_failure_reason,
        "last_failure_at": status.last_failure_at,
    }


def lease_view(resource: LeaseResource) -> dict[str, Any]:
    status = resource.status
    view = LeaseView(
        **_common(resource),
        renewable=status.renewable,
        renewals=status.renewals,
        token_expires_at=status.token_expires_at,
    )
    return view.model_dump(mode="json")


def certificate_view(resource: CertificateResource) -> dict[str, Any]:
    spec = resource.spec
    view = CertificateView(
        **_common(resource),
        common_name=resource.raw_spec.get("commonName") if spec is None else spec.common_name,
        serial_number=resource.status.serial_number,
    )
    return view.model_dump(mode="json")
