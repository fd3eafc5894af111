"""The specs of the two leasing kinds: ``FederationLease`` (dynamic credentials, such
as ``database/creds/<role>``) and ``FederationCertificate`` (``pki/issue/<role>``).

Both name a Vault FederationBackend of their own namespace (``backendRef``) whose
connection and login they use, a path under it, the Secret to write
(``target``) and the workloads to restart when it changes. Everything is
checked here, where the spec enters the program, and each error names its
field.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import CamelModel
from .duration import check_duration, parse_duration
from .rollout import RolloutTarget
from .target import Target

#: a FederationBackend's name (a DNS subdomain)
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_OBJECT_NAME = re.compile(OBJECT_NAME_PATTERN)
#: a Vault path: '/'-separated segments of letters, digits and ``._-+=@``
VAULT_PATH_PATTERN = r"^[A-Za-z0-9._+=@-]+(/[A-Za-z0-9._+=@-]+)*$"
_VAULT_PATH = re.compile(VAULT_PATH_PATTERN)
#: ``<mount>/issue/<role>``: the PKI engine's issue endpoint
CERTIFICATE_PATH_PATTERN = r"^[A-Za-z0-9._+=@-]+(/[A-Za-z0-9._+=@-]+)*/issue/[A-Za-z0-9._+=@-]+$"
_CERTIFICATE_PATH = re.compile(CERTIFICATE_PATH_PATTERN)
#: mounts that never mint leased secrets: the server's own configuration, logins,
#: identities; a lease's path may not name them
FORBIDDEN_MOUNTS = ("sys", "auth", "identity", "cubbyhole")
#: a DNS name, or a wildcard one, as a certificate's name
DNS_NAME_PATTERN = (
    r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$"
)
_DNS_NAME = re.compile(DNS_NAME_PATTERN)

DEFAULT_RENEW_FRACTION = 2 / 3
DEFAULT_REVOKE_GRACE = timedelta(seconds=30)
#: a certificate is re-issued this share of its lifetime before notAfter by default
DEFAULT_RENEW_BEFORE_SHARE = 1 / 3


class LeaseDeletionPolicy(StrEnum):
    #: revoke the lease (the backend deletes what it minted) and delete the Secret
    REVOKE = "Revoke"
    #: keep the lease running out on its own, and the Secret, no longer managed
    RETAIN = "Retain"


class CertificateDeletionPolicy(StrEnum):
    #: delete the Secret
    DELETE = "Delete"
    #: revoke the certificate and delete the Secret; a replaced certificate is
    #: revoked too, ``revokeGracePeriod`` after its successor was written
    REVOKE = "Revoke"
    #: keep the Secret, no longer managed
    RETAIN = "Retain"


def _seconds(value: str | None) -> timedelta | None:
    return parse_duration(value) if value is not None else None


def check_vault_path(value: str) -> str:
    if not _VAULT_PATH.match(value):
        raise ValueError(
            "must be a Vault path such as database/creds/app: '/'-separated segments of "
            "letters, digits and ._-+=@, no leading or trailing '/'"
        )
    segments = value.split("/")
    if any(s in (".", "..") for s in segments):
        raise ValueError("must not hold '.' or '..' segments")
    if segments[0] in FORBIDDEN_MOUNTS:
        raise ValueError(f"must not be under {segments[0]}/: it mints no leased secrets")
    return value


class LeasedSpec(CamelModel):
    """What both kinds say: the backend, the path, the workloads to restart."""

    backend_ref: str = Field(min_length=1, max_length=253)
    path: str = Field(min_length=1, max_length=512)
    rollout_restart_targets: list[RolloutTarget] | None = Field(default=None, max_length=32)

    @field_validator("backend_ref")
    @classmethod
    def _check_backend_ref(cls, value: str) -> str:
        if not _OBJECT_NAME.match(value):
            raise ValueError("must be the name of a FederationBackend of the same namespace")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return check_vault_path(value)


class LeaseSpec(LeasedSpec):
    """``FederationLease.spec``."""

    #: the request's body (a write when given, else a read)
    parameters: dict[str, Any] | None = Field(default=None, max_length=64)
    renew_fraction: float = Field(default=DEFAULT_RENEW_FRACTION, ge=0.1, le=0.9)
    #: new credentials this long before the lease can be extended no more (default:
    #: the share of its TTL that renewFraction leaves)
    rotate_before: str | None = Field(default=None, max_length=32)
    #: how long the replaced lease lives on after new credentials were written
    revoke_grace_period: str | None = Field(default=None, max_length=32)
    target: Target | None = None
    deletion_policy: LeaseDeletionPolicy = LeaseDeletionPolicy.REVOKE

    @field_validator("rotate_before", "revoke_grace_period")
    @classmethod
    def _check_durations(cls, value: str | None) -> str | None:
        return check_duration(value)

    @property
    def rotate_margin(self) -> timedelta | None:
        return _seconds(self.rotate_before)

    @property
    def revoke_grace(self) -> timedelta:
        return _seconds(self.revoke_grace_period) or DEFAULT_REVOKE_GRACE

    @property
    def request(self) -> dict[str, object]:
        return dict(self.parameters or {})


class CertificateTarget(CamelModel):
    """``FederationCertificate.spec.target``: the Secret's name, labels and annotations
    (its type is ``kubernetes.io/tls`` and its keys are fixed). The same checks as a
    synced Secret's target."""

    name: str | None = Field(default=None, max_length=253)
    labels: dict[str, str] | None = Field(default=None, max_length=64)
    annotations: dict[str, str] | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _as_target(self) -> CertificateTarget:
        self.as_target()
        return self

    def as_target(self) -> Target:
        """The same fields as a synced Secret's target, checked as one."""
        return Target(name=self.name, labels=self.labels, annotations=self.annotations)


class CertificateSpec(LeasedSpec):
    """``FederationCertificate.spec``."""

    common_name: str = Field(min_length=1, max_length=253)
    alt_names: list[str] | None = Field(default=None, max_length=100)
    ip_sans: list[str] | None = Field(default=None, max_length=100)
    ttl: str | None = Field(default=None, max_length=32)
    #: re-issue this long before notAfter (default: a third of the lifetime)
    renew_before: str | None = Field(default=None, max_length=32)
    include_ca: bool = Field(default=False, alias="includeCA")
    target: CertificateTarget | None = None
    #: with deletionPolicy Revoke: how long a replaced certificate stays unrevoked
    revoke_grace_period: str | None = Field(default=None, max_length=32)
    deletion_policy: CertificateDeletionPolicy = CertificateDeletionPolicy.DELETE

    @field_validator("ttl", "renew_before", "revoke_grace_period")
    @classmethod
    def _check_durations(cls, value: str | None) -> str | None:
        return check_duration(value)

    @field_validator("path")
    @classmethod
    def _check_certificate_path(cls, value: str) -> str:
        if not _CERTIFICATE_PATH.match(value):
            raise ValueError("must be a PKI engine's issue path: <mount>/issue/<role>")
        return value

    @field_validator("common_name")
    @classmethod
    def _check_common_name(cls, value: str) -> str:
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError("must not hold control characters")
        return value

    @field_validator("alt_names")
    @classmethod
    def _check_alt_names(cls, value: list[str] | None) -> list[str] | None:
        for i, name in enumerate(value or []):
            if len(name) > 253 or not _DNS_NAME.match(name):
                raise ValueError(f"entry {i} is not a DNS name")
        return value

    @field_validator("ip_sans")
    @classmethod
    def _check_ip_sans(cls, value: list[str] | None) -> list[str] | None:
        for i, text in enumerate(value or []):
            try:
                ipaddress.ip_address(text)
            except ValueError:
                raise ValueError(f"entry {i} is not an IP address") from None
        return value

    @field_validator("renew_before")
    @classmethod
    def _renew_before_within_ttl(cls, value: str | None, info: ValidationInfo) -> str | None:
        ttl, margin = _seconds(info.data.get("ttl")), _seconds(value)
        if ttl is not None and margin is not None and margin >= ttl:
            # every certificate would be due as soon as issued, re-issued again and again
            raise ValueError("must be shorter than ttl")
        return value

    @property
    def ttl_seconds(self) -> float | None:
        ttl = _seconds(self.ttl)
        return ttl.total_seconds() if ttl is not None else None

    @property
    def renew_margin(self) -> timedelta | None:
        return _seconds(self.renew_before)

    @property
    def revoke_grace(self) -> timedelta:
        return _seconds(self.revoke_grace_period) or DEFAULT_REVOKE_GRACE

    @property
    def revokes(self) -> bool:
        """Whether the certificates issued are revoked once no longer used."""
        return self.deletion_policy is CertificateDeletionPolicy.REVOKE

    @property
    def mount(self) -> str:
        """The PKI engine's mount (the path before ``/issue/<role>``)."""
        return self.path.rsplit("/issue/", 1)[0]
