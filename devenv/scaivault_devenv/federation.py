"""What the emulators' token exchanges share, on both sides of their admin API.

Inside an emulator, :class:`FederationAdmin` holds the :class:`OidcValidator` the
token exchange checks presented ServiceAccount tokens with, and counts the
exchanges it granted (by identity) and refused (by the cloud's error code). Its
admin calls, the same on every emulator:

- ``POST {prefix}/_emulator/trusted-issuers`` ``{"issuer", "caPem"}``: check that
  issuer's HTTPS server with this CA (a cloud trusts public CAs; the test
  apiserver's is a throwaway one);
- ``PUT {prefix}/_emulator/token-clock`` ``{"offsetSeconds"}``: judge presented
  tokens' ``exp``/``nbf`` as that much later (an expiry without waiting);
- ``GET {prefix}/_emulator/exchanges``: ``{"granted": {identity: n}, "refused":
  {code: n}}``; ``DELETE`` sets both back to nothing.

In the harness, :class:`FederationClient` makes those calls; federated
credentials travel as ``{"issuer", "subject", "audiences"}``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .oidc_validator import FederatedCredential, OidcValidator, VerifiedToken


class AdminInputError(ValueError):
    """A harness call's body is not what the emulator expects; names the field."""


def credential_json(credential: FederatedCredential) -> dict[str, Any]:
    return {
        "issuer": credential.issuer,
        "subject": credential.subject,
        "audiences": sorted(credential.audiences),
    }


def credential_from_json(item: Any, where: str, name: str = "") -> FederatedCredential:
    if not isinstance(item, dict):
        raise AdminInputError(f"{where}: an object is expected")
    issuer, subject, audiences = item.get("issuer"), item.get("subject"), item.get("audiences")
    if not isinstance(issuer, str) or not issuer.startswith("https://"):
        raise AdminInputError(f"{where}.issuer: an https URL is expected")
    if subject is not None and (not isinstance(subject, str) or not subject):
        raise AdminInputError(f"{where}.subject: a non-empty string or null is expected")
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        raise AdminInputError(f"{where}.audiences: a list of strings is expected")
    if not audiences:
        raise AdminInputError(f"{where}.audiences: at least one audience is expected")
    return FederatedCredential(issuer, frozenset(audiences), subject, name)


def credentials_from_json(items: Any, where: str, name: str = "") -> list[FederatedCredential]:
    if not isinstance(items, list):
        raise AdminInputError(f"{where}: a list is expected")
    return [credential_from_json(item, f"{where}[{i}]", name) for i, item in enumerate(items)]


def text_field(body: dict[str, Any], key: str) -> str:
    """``body[key]`` when it is a non-empty string; AdminInputError naming it otherwise."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise AdminInputError(f"{key}: a non-empty string is expected")
    return value


def number_field(body: dict[str, Any], key: str, default: float | None = None) -> float:
    """``body[key]`` when it is a number (``default`` when absent and there is one)."""
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AdminInputError(f"{key}: a number is expected")
    return float(value)


async def admin_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise AdminInputError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise AdminInputError("the body must be an object")
    return body


def admin_error(error: AdminInputError) -> web.Response:
    return web.json_response({"error": str(error)}, status=400)


class FederationAdmin:
    """The validator, the counts, and the admin routes over them."""

    def __init__(self, validator: OidcValidator | None = None) -> None:
        self.validator = validator or OidcValidator()
        self.granted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    async def verify(self, token: str, credentials: Iterable[FederatedCredential]) -> VerifiedToken:
        """:meth:`OidcValidator.verify` off the event loop (it may fetch keys)."""
        return await asyncio.to_thread(self.validator.verify, token, list(credentials))

    def counts(self) -> dict[str, dict[str, int]]:
        return {"granted": dict(self.granted), "refused": dict(self.refused)}

    async def trust_issuer(self, request: web.Request) -> web.Response:
        try:
            body = await admin_body(request)
            issuer = text_field(body, "issuer")
            ca_pem = body.get("caPem")
            if ca_pem is not None and not isinstance(ca_pem, str):
                raise AdminInputError("caPem: a PEM string or null is expected")
            self.validator.trust(issuer, ca_pem)
        except (AdminInputError, ValueError) as error:
            return admin_error(AdminInputError(str(error)))
        return web.json_response({"issuer": issuer})

    async def set_clock(self, request: web.Request) -> web.Response:
        try:
            offset = number_field(await admin_body(request), "offsetSeconds")
        except AdminInputError as error:
            return admin_error(error)
        self.validator.clock_offset = offset
        return web.json_response({"offsetSeconds": offset})

    async def exchanges(self, request: web.Request) -> web.Response:
        return web.json_response(self.counts())

    async def reset_exchanges(self, request: web.Request) -> web.Response:
        self.granted.clear()
        self.refused.clear()
        return web.json_response(self.counts())

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/_emulator/trusted-issuers", self.trust_issuer)
        app.router.add_put("/_emulator/token-clock", self.set_clock)
        app.router.add_get("/_emulator/exchanges", self.exchanges)
        app.router.add_delete("/_emulator/exchanges", self.reset_exchanges)


class FederationClient:
    """The harness side of :class:`FederationAdmin`, for a server with ``admin()``."""

    #: what comes before ``/_emulator/`` in the admin paths
    admin_prefix = ""

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def trust_issuer(self, issuer: str, ca_pem: str | None) -> None:
        """Check ``issuer``'s discovery and keys over HTTPS with ``ca_pem``."""
        body = {"issuer": issuer, "caPem": ca_pem}
        self.admin("POST", f"{self.admin_prefix}/_emulator/trusted-issuers", body)

    def shift_token_clock(self, seconds: float) -> None:
        """Judge presented tokens as ``seconds`` later than now (0: now again)."""
        body = {"offsetSeconds": seconds}
        self.admin("PUT", f"{self.admin_prefix}/_emulator/token-clock", body)

    def exchanges(self) -> dict[str, dict[str, int]]:
        """``{"granted": {identity: n}, "refused": {error code: n}}`` since the last reset."""
        return self.admin("GET", f"{self.admin_prefix}/_emulator/exchanges")

    def reset_exchanges(self) -> None:
        self.admin("DELETE", f"{self.admin_prefix}/_emulator/exchanges")
