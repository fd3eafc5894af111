"""The OIDC token of a Pub/Sub push, checked as Google documents it.

A push subscription with authentication sends ``Authorization: Bearer <JWT>``:
an RS256 token signed by Google, with the configured audience, Google's
issuer, and the ``email`` of the subscription's service account
(``email_verified`` true). Only the service accounts the settings name are
accepted: anyone can mint a Google token for any audience. Keys come from the
JWKS URL (Google's by default), cached for an hour and fetched again for an
unknown key id at most once a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
import jwt

from ..changes import KeysUnavailableError
from ..changes import TokenRejectedError as PushTokenError

log = logging.getLogger(__name__)

KEYS_TTL = 3600.0
REFETCH_AFTER = 60.0
LEEWAY = 30


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of something shaped like a JWT, unverified; ``None`` otherwise."""
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


class PushTokenVerifier:
    what = "the Pub/Sub push token"
    principal = "google-push"

    def __init__(
        self,
        audience: str,
        service_accounts: Iterable[str],
        issuer: str,
        jwks_url: str,
    ) -> None:
        self.audience = audience
        self.service_accounts = frozenset(a.lower() for a in service_accounts)
        bare = issuer.removeprefix("https://")
        self.issuers = sorted({issuer, bare})
        self.jwks_url = jwks_url
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def claims_to_be_ours(self, token: str) -> bool:
        """Whether ``token`` says it is a push token (its issuer is Google's)."""
        return unverified_issuer(token) in self.issuers

    async def verify(self, token: str) -> str:
        """The service account of a valid push token; :class:`PushTokenError` otherwise,
        :class:`KeysUnavailableError` when the keys cannot be had."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise PushTokenError("not a JWT") from None
        if header.get("alg") != "RS256":
            raise PushTokenError("the token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise PushTokenError("the token names no signing key")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuers,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise PushTokenError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise PushTokenError("the token is for another audience") from None
        except jwt.PyJWTError as exc:
            raise PushTokenError(f"the token is not valid ({type(exc).__name__})") from None
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            raise PushTokenError("the token carries no verified service account")
        if email.lower() not in self.service_accounts:
            raise PushTokenError("the token's service account is not allowed")
        return email

    async def _key(self, kid: str) -> Any:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched < KEYS_TTL:
            return self._keys[kid]
        async with self._lock:
            now = time.monotonic()
            stale = now - self._fetched >= KEYS_TTL
            if (kid not in self._keys and (stale or now - self._fetched >= REFETCH_AFTER)) or stale:
                await self._fetch()
        if kid not in self._keys:
            raise PushTokenError("the token is signed with an unknown key")
        return self._keys[kid]

    async def _fetch(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.get(self.jwks_url) as resp:
                if resp.status != 200:
                    raise KeysUnavailableError(f"the key set answered {resp.status}")
                doc = json.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("Pub/Sub push keys not fetched: %s", type(exc).__name__)
            raise KeysUnavailableError("the key set cannot be fetched") from None
        keys: dict[str, Any] = {}
        for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk).key
            except jwt.PyJWTError:
                continue
        self._keys = keys
        self._fetched = time.monotonic()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
