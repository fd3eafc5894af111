"""What a backend that issues leased secrets offers: dynamic credentials with a
lease (Vault's ``database/creds/<role>``, ``aws/creds/<role>``, …) and
certificates from a PKI engine (``pki/issue/<role>``).

These are the types the leasing runtime works with; a backend type that can
issue them implements :class:`LeaseIssuer`. The values they carry (passwords,
private keys) are secret: their ``repr`` never shows them, and nothing here
ever puts them into a message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .. import conditions as c
from .errors import BackendError, InvalidBackendConfigError


@dataclass(frozen=True)
class IssuedLease:
    """Credentials a backend minted, with the lease that keeps them alive."""

    #: the backend's lease id ("" when the answer carried no lease)
    lease_id: str
    #: seconds the lease was granted for
    duration: float
    renewable: bool
    #: the credentials (``username``/``password`` …): secret values
    data: Mapping[str, str] = field(repr=False)
    #: when the token that asked for the lease expires (``None``: never); the
    #: backend revokes the lease with it, so this bounds the lease's life too
    parent_expires_at: datetime | None = None


@dataclass(frozen=True)
class RenewedLease:
    """What a renewal granted."""

    #: seconds from now the lease now lasts (the backend may grant less than
    #: was asked for, down to what its maximum TTL leaves)
    duration: float
    renewable: bool


@dataclass(frozen=True)
class LeaseState:
    """What the backend knows of a lease it still holds."""

    expires_at: datetime
    renewable: bool


@dataclass(frozen=True)
class CertificateRequest:
    """What a certificate is issued for."""

    common_name: str
    alt_names: Sequence[str] = ()
    ip_sans: Sequence[str] = ()
    #: seconds; ``None``: the role's default
    ttl: float | None = None


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key, as a PKI engine issued them."""

    #: PEM of the leaf certificate
    certificate: str
    #: PEM of the private key: secret
    private_key: str = field(repr=False)
    #: PEM of the CA that issued it
    issuing_ca: str
    #: PEMs of the chain above the leaf, issuing CA first (may be empty)
    ca_chain: tuple[str, ...]
    serial_number: str
    not_after: datetime


class LeaseNotFoundError(BackendError):
    """The backend no longer holds the lease (expired, revoked, or its token
    was revoked)."""

    reason = c.LEASE_NOT_FOUND
    reachable = True
    http_status = 404
    http_code = "lease_not_found"
    call_result = "not_found"


class RenewalRefusedError(BackendError):
    """The backend refused to extend the lease (not renewable, or its maximum
    TTL is reached)."""

    reason = c.RENEWAL_REFUSED
    reachable = True
    http_status = 409
    http_code = "renewal_refused"


class LeaseIssuer(Protocol):
    """A backend that mints leased secrets. Every call is counted in the
    backend's call counter under its own operation (``issue``, ``renew``,
    ``revoke``, ``lookup_lease``, ``issue_certificate``, ``revoke_certificate``)."""

    async def issue(self, path: str, parameters: Mapping[str, object]) -> IssuedLease:
        """Ask ``path`` for new credentials (a read, or a write when
        ``parameters`` is not empty)."""
        ...

    async def renew(self, lease_id: str, increment: float | None = None) -> RenewedLease:
        """Extend the lease; raises :class:`RenewalRefusedError` or
        :class:`LeaseNotFoundError`."""
        ...

    async def revoke(self, lease_id: str) -> None:
        """End the lease now (the backend deletes what it minted). A lease the
        backend no longer holds is not an error."""
        ...

    async def lookup_lease(self, lease_id: str) -> LeaseState:
        """What the backend knows of the lease; raises
        :class:`LeaseNotFoundError` when it holds it no longer."""
        ...

    async def issue_certificate(self, path: str, request: CertificateRequest) -> IssuedCertificate:
        """Issue a certificate at ``path`` (``pki/issue/<role>``)."""
        ...

    async def revoke_certificate(self, mount: str, serial_number: str) -> None:
        """Revoke the certificate of ``serial_number`` the PKI engine at ``mount``
        issued (it enters the engine's CRL). One the engine does not know, or no
        longer lists (expired and tidied), is not an error."""
        ...


@runtime_checkable
class IssuesLeases(Protocol):
    """A backend whose type issues leased secrets (``hashicorp-vault``)."""

    def leases(self) -> LeaseIssuer:
        """The issuer over the backend's own connection, token and call counter."""
        ...


class LeasesUnsupportedError(InvalidBackendConfigError):
    """The backend's type issues no leased secrets."""


def lease_issuer(backend: object) -> LeaseIssuer:
    """The :class:`LeaseIssuer` of ``backend``; raises :class:`LeasesUnsupportedError`
    for a backend type that has none."""
    if isinstance(backend, IssuesLeases):
        return backend.leases()
    kind = getattr(backend, "backend_type", type(backend).__name__)
    raise LeasesUnsupportedError(f"backend type {kind!r} issues no leased secrets")
