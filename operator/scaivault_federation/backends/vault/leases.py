"""Leased secrets from Vault and OpenBao: dynamic credentials of any engine that
answers with a lease (``database/creds/<role>``, ``aws/creds/<role>``, …) and
certificates of the PKI engine (``pki/issue/<role>``).

Every call goes over the backend's :class:`~.client.VaultClient` (its token,
TLS, redirect policy, call counting and error mapping):

- issuing is ``GET <path>``, or ``POST <path>`` with the parameters as JSON;
  the answer's ``lease_id``, ``lease_duration``, ``renewable`` and ``data``
  (each value as a string, JSON for what is not one) make the
  :class:`~..leases.IssuedLease`. Its ``parent_expires_at`` is the expiry of
  the token that asked (``auth/token/lookup-self``, once per token, counted
  as ``lookup_token``): Vault revokes a lease with its token, so the lease
  cannot outlive it. From the first issue on, the client keeps its token
  alive on close instead of revoking it;
- ``sys/leases/renew``, ``sys/leases/revoke`` and ``sys/leases/lookup`` (all
  ``PUT`` with the lease id) renew, revoke and look up; Vault's "lease not
  found" is :class:`~..leases.LeaseNotFoundError` and "lease is not
  renewable" :class:`~..leases.RenewalRefusedError` (see :mod:`.errors`). A
  renewal Vault caps at the role's maximum TTL answers the shorter duration
  it granted, for the caller to act on;
- a certificate is ``POST pki/issue/<role>`` with ``common_name``,
  ``alt_names``, ``ip_sans`` and ``ttl``; ``POST pki/revoke`` with its
  ``serial_number`` revokes it (a serial the engine does not know is taken as
  revoked already).

Messages name paths and lease ids, never a password, key or other value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import BackendError
from ..leases import (
    CertificateRequest,
    IssuedCertificate,
    IssuedLease,
    LeaseNotFoundError,
    LeaseState,
    RenewalRefusedError,
    RenewedLease,
)
from .client import VaultClient, check_path, timestamp


class VaultLeases:
    """:class:`~..leases.LeaseIssuer` of one Vault backend."""

    def __init__(self, client: VaultClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"VaultLeases({self._client.display})"

    async def issue(self, path: str, parameters: Mapping[str, object]) -> IssuedLease:
        check_path(path)
        # looked up first, so that a token that cannot look itself up issues nothing
        parent_expires_at = await self._client.token_expires_at("lookup_token")
        self._client.hold_token()  # from now on a lease may hang on it
        if parameters:
            answer = await self._client.request("POST", path, "issue", body=parameters)
        else:
            answer = await self._client.request("GET", path, "issue")
        data = answer.get("data") if answer else None
        if not isinstance(data, dict):
            raise BackendError(f"no credentials in the answer at {path!r}")
        return IssuedLease(
            lease_id=_text(answer, "lease_id") if answer else "",
            duration=_seconds(answer, "lease_duration") if answer else 0.0,
            renewable=bool(answer.get("renewable")) if answer else False,
            data={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()},
            parent_expires_at=parent_expires_at,
        )

    async def renew(self, lease_id: str, increment: float | None = None) -> RenewedLease:
        body: dict[str, object] = {"lease_id": lease_id}
        if increment is not None:
            body["increment"] = max(1, math.ceil(increment))
        answer = await self._lease_call("sys/leases/renew", "renew", lease_id, body)
        return RenewedLease(
            duration=_seconds(answer, "lease_duration"), renewable=bool(answer.get("renewable"))
        )

    async def revoke(self, lease_id: str) -> None:
        try:
            await self._lease_call("sys/leases/revoke", "revoke", lease_id, {"lease_id": lease_id})
        except LeaseNotFoundError:
            return  # already gone: what revoking wanted

    async def lookup_lease(self, lease_id: str) -> LeaseState:
        answer = await self._lease_call(
            "sys/leases/lookup", "lookup_lease", lease_id, {"lease_id": lease_id}
        )
        data = answer.get("data")
        data = data if isinstance(data, dict) else {}
        expires_at = timestamp(data.get("expire_time"))
        if expires_at is None:
            raise BackendError(f"no expiry in Vault's answer for lease {lease_id!r}")
        if _seconds(data, "ttl") <= 0:  # expired, not yet revoked by Vault
            raise LeaseNotFoundError(f"lease {lease_id!r} has expired")
        return LeaseState(expires_at=expires_at, renewable=bool(data.get("renewable")))

    async def issue_certificate(self, path: str, request: CertificateRequest) -> IssuedCertificate:
        check_path(path)
        body: dict[str, object] = {"common_name": request.common_name}
        if request.alt_names:
            body["alt_names"] = ",".join(request.alt_names)
        if request.ip_sans:
            body["ip_sans"] = ",".join(request.ip_sans)
        if request.ttl is not None:
            body["ttl"] = f"{max(1, math.ceil(request.ttl))}s"
        answer = await self._client.request("POST", path, "issue_certificate", body=body)
        if answer and answer.get("lease_id"):
            self._client.hold_token()  # a role with generate_lease: the token holds it
        data = answer.get("data") if answer else None
        if not isinstance(data, dict):
            raise BackendError(f"no certificate in the answer at {path!r}")
        chain = data.get("ca_chain")
        expiration = data.get("expiration")
        if not isinstance(expiration, int | float | str) or not str(expiration).isdigit():
            raise BackendError(f"no expiration in the answer at {path!r}")
        return IssuedCertificate(
            certificate=_pem(data, "certificate", path),
            private_key=_pem(data, "private_key", path),
            issuing_ca=_pem(data, "issuing_ca", path),
            ca_chain=tuple(str(c) for c in chain) if isinstance(chain, list) else (),
            serial_number=_text(data, "serial_number"),
            not_after=datetime.fromtimestamp(int(expiration), UTC),
        )

    async def revoke_certificate(self, mount: str, serial_number: str) -> None:
        path = f"{mount}/revoke"
        check_path(path)
        body = {"serial_number": serial_number}
        try:
            await self._client.request("POST", path, "revoke_certificate", body=body)
        except LeaseNotFoundError:
            return  # not (or no longer) known to the engine: nothing left to revoke

    async def _lease_call(
        self, api_path: str, operation: str, lease_id: str, body: Mapping[str, object]
    ) -> dict[str, Any]:
        """``PUT`` on one of ``sys/leases/…``; the errors name the lease."""
        try:
            answer = await self._client.request("PUT", api_path, operation, body=body)
        except LeaseNotFoundError:
            raise LeaseNotFoundError(f"Vault holds no lease {lease_id!r}") from None
        except RenewalRefusedError:
            raise RenewalRefusedError(f"Vault will not renew lease {lease_id!r}") from None
        return answer or {}


def _text(answer: Mapping[str, Any], key: str) -> str:
    value = answer.get(key)
    return value if isinstance(value, str) else ""


def _seconds(answer: Mapping[str, Any], key: str) -> float:
    value = answer.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _pem(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BackendError(f"no {key} in the answer at {path!r}")
    return value
