"""Why a lease or certificate cannot be kept, as types carrying their meaning."""

from __future__ import annotations

from typing import ClassVar

from .. import conditions as c
from ..errors import FederationError


class BackendNotUsableError(FederationError):
    """``backendRef`` names no FederationBackend of the namespace, or one that issues no
    leases (not a Vault backend, or an invalid one)."""

    reason: ClassVar[str] = c.BACKEND_NOT_USABLE
    reachable: ClassVar[bool] = True


class SecretConflictError(FederationError):
    """The Secret to write exists and is not the resource's own: it is never
    overwritten, and nothing is issued while it is there."""

    reason: ClassVar[str] = c.SECRET_CONFLICT
    reachable: ClassVar[bool] = True


class InvalidSpecError(FederationError):
    """The spec does not parse: the message names the fields."""

    reason: ClassVar[str] = c.INVALID_CONFIG
    reachable: ClassVar[bool] = True
