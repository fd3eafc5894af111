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
import json
import ssl
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
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


def strings_field(body: dict[str, Any], key: str, default: list[str]) -> list[str]:
    """``body[key]`` when it is a list of non-empty strings (``default`` when absent)."""
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AdminInputError(f"{key}: a list of strings is expected")
    return value


def seconds_field(body: dict[str, Any], key: str, default: int) -> int:
    """A lifetime in whole seconds, at least 1 (``default`` when absent)."""
    seconds = int(number_field(body, key, default))
    if seconds < 1:
        raise AdminInputError(f"{key}: at least 1 is expected")
    return seconds


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

    def apply_trust(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"issuer", "caPem"}``: check the issuer's HTTPS server with that CA."""
        issuer = text_field(body, "issuer")
        ca_pem = body.get("caPem")
        if ca_pem is not None and not isinstance(ca_pem, str):
            raise AdminInputError("caPem: a PEM string or null is expected")
        try:
            self.validator.trust(issuer, ca_pem)
        except ssl.SSLError as error:
            raise AdminInputError(f"caPem: not a PEM certificate ({error})") from None
        return {"issuer": issuer}

    def apply_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"offsetSeconds"}``: judge presented tokens as that much later."""
        self.validator.clock_offset = number_field(body, "offsetSeconds")
        return {"offsetSeconds": self.validator.clock_offset}

    def reset(self) -> None:
        self.granted.clear()
        self.refused.clear()

    async def _handle(
        self, request: web.Request, apply: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> web.Response:
        try:
            return web.json_response(apply(await admin_body(request)))
        except AdminInputError as error:
            return admin_error(error)

    async def trust_issuer(self, request: web.Request) -> web.Response:
        return await self._handle(request, self.apply_trust)

    async def set_clock(self, request: web.Request) -> web.Response:
        return await self._handle(request, self.apply_clock)

    async def exchanges(self, request: web.Request) -> web.Response:
        return web.json_response(self.counts())

    async def reset_exchanges(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(self.counts())

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/_emulator/trusted-issuers", self.trust_issuer)
        app.router.add_put("/_emulator/token-clock", self.set_clock)
        app.router.add_get("/_emulator/exchanges", self.exchanges)
        app.router.add_delete("/_emulator/exchanges", self.reset_exchanges)


class EmulatorCallError(RuntimeError):
    """An emulator refused a harness call; says which and why."""


def emulator_request(
    url: str,
    method: str,
    body: dict[str, Any] | None = None,
    context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """One JSON call to an emulator's own endpoints on loopback."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        url, data, {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            parsed = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", errors="replace")
        raise EmulatorCallError(f"{method} {url}: HTTP {err.code} {detail}") from None
    return parsed if isinstance(parsed, dict) else {}


class FederationClient:
    """The harness side of :class:`FederationAdmin`, for a server whose
    ``emulator_call`` makes one admin call."""

    #: what comes before ``/_emulator/`` in the admin paths
    admin_prefix = ""

    def emulator_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def trust_issuer(self, issuer: str, ca_pem: str | None) -> None:
        """Check ``issuer``'s discovery and keys over HTTPS with ``ca_pem``."""
        body = {"issuer": issuer, "caPem": ca_pem}
        self.emulator_call("POST", f"{self.admin_prefix}/_emulator/trusted-issuers", body)

    def shift_token_clock(self, seconds: float) -> None:
        """Judge presented tokens as ``seconds`` later than now (0: now again)."""
        body = {"offsetSeconds": seconds}
        self.emulator_call("PUT", f"{self.admin_prefix}/_emulator/token-clock", body)

    def exchanges(self) -> dict[str, dict[str, int]]:
        """``{"granted": {identity: n}, "refused": {error code: n}}`` since the last reset."""
        return self.emulator_call("GET", f"{self.admin_prefix}/_emulator/exchanges")

    def reset_exchanges(self) -> None:
        self.emulator_call("DELETE", f"{self.admin_prefix}/_emulator/exchanges")
