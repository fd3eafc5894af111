"""ServiceAccount tokens checked the way a cloud's token exchange checks them.

Entra ID, Google's Security Token Service and AWS STS each accept a token from
an external OpenID Connect issuer (here: the test kube-apiserver) when it
matches a federated credential registered beforehand: the issuer, the
audiences and, for Entra and AWS trust policies, the subject. They read the
issuer's discovery document (``<iss>/.well-known/openid-configuration``) over
HTTPS, then its key set (``jwks_uri``), and verify the token's signature with
it. :class:`OidcValidator` does the same for the emulators, with PyJWT:

1. the token must be a signed JWT with ``iss``, ``sub``, ``aud`` and ``exp``;
2. its issuer must be one a credential names (:class:`UntrustedIssuer`);
3. the issuer's discovery and keys must be readable (:class:`KeysUnavailable`)
   and the signature valid (:class:`BadSignature`);
4. ``exp`` / ``nbf`` against the validator's clock (:class:`TokenExpired`,
   :class:`TokenNotYetValid`); the clock is a parameter, so an expiry can be
   tested without waiting out TokenRequest's 10 minute minimum;
5. the subject and then the audience must match one credential
   (:class:`SubjectNotAllowed`, :class:`AudienceNotAllowed`).

Each refusal is its own exception type with a ``reason``; messages name the
issuer, subject or audience the token claims, never the token itself.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jwt

#: the signature algorithms kube-apiserver signs ServiceAccount tokens with
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"]
DISCOVERY_PATH = "/.well-known/openid-configuration"
#: how far a token's ``nbf`` may lie ahead of the clock (clocks drift a little)
NOT_BEFORE_LEEWAY = 60.0


class TokenRefused(Exception):
    """A presented token was not accepted; ``reason`` names the check it failed."""

    reason: ClassVar[str] = "refused"


class MalformedToken(TokenRefused):
    reason = "malformed"


class UntrustedIssuer(TokenRefused):
    reason = "issuer"

    def __init__(self, issuer: str) -> None:
        super().__init__(f"no federated credential trusts the issuer {issuer!r}")
        self.issuer = issuer


class KeysUnavailable(TokenRefused):
    reason = "keys"


class BadSignature(TokenRefused):
    reason = "signature"


class TokenExpired(TokenRefused):
    reason = "expired"

    def __init__(self, expires_at: float, now: float) -> None:
        super().__init__(f"the token expired at {int(expires_at)}; it is {int(now)} now")
        self.expires_at = expires_at
        self.now = now


class TokenNotYetValid(TokenRefused):
    reason = "not_yet_valid"

    def __init__(self, not_before: float, now: float) -> None:
        super().__init__(f"the token is not valid before {int(not_before)}; it is {int(now)} now")
        self.not_before = not_before
        self.now = now


class SubjectNotAllowed(TokenRefused):
    reason = "subject"

    def __init__(self, subject: str) -> None:
        super().__init__(f"no federated credential matches the subject {subject!r}")
        self.subject = subject


class AudienceNotAllowed(TokenRefused):
    reason = "audience"

    def __init__(self, audiences: tuple[str, ...]) -> None:
        super().__init__(f"no federated credential accepts the audience {list(audiences)!r}")
        self.audiences = audiences


@dataclass(frozen=True)
class FederatedCredential:
    """What a cloud was told to accept: tokens of ``issuer`` carrying one of
    ``audiences``, and ``subject`` (any subject when ``None``). ``name`` says whose
    credential it is (an application, a pool provider, a role)."""

    issuer: str
    audiences: frozenset[str]
    subject: str | None = None
    name: str = ""


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires_at: float
    credential: FederatedCredential
    claims: dict[str, Any] = field(repr=False)


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims, its signature not checked (to pick the issuer's keys)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise MalformedToken("the token is not a well-formed JWT") from None
    return claims


@dataclass
class _Issuer:
    jwks: jwt.PyJWKClient


class OidcValidator:
    """Verifies tokens against their issuers' discovery documents and key sets.

    ``trust(issuer, ca_pem)`` sets the CA the issuer's HTTPS server is checked with
    (the system's trust store otherwise). ``clock`` gives the time tokens are judged
    at; ``clock_offset`` shifts it (an emulator's "it is later now")."""

    def __init__(self, clock: Callable[[], float] = time.time, timeout: float = 10) -> None:
        self.clock = clock
        self.clock_offset = 0.0
        self.timeout = timeout
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._issuers: dict[str, _Issuer] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def trust(self, issuer: str, ca_pem: str | None) -> None:
        """Check ``issuer``'s HTTPS server with ``ca_pem`` (system CAs when ``None``)."""
        context = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
        with self._lock:
            if context is None:
                self._contexts.pop(issuer, None)
            else:
                self._contexts[issuer] = context
            self._issuers.pop(issuer, None)  # fetch again, over the new trust

    def verify(self, token: str, credentials: Iterable[FederatedCredential]) -> VerifiedToken:
        """The token's verified claims and the credential it matches; raises a
        :class:`TokenRefused` subclass for the first check it fails."""
        claims = unverified_claims(token)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise MalformedToken("the token has no issuer (iss)")
        candidates = [c for c in credentials if c.issuer == issuer]
        if not candidates:
            raise UntrustedIssuer(issuer)
        claims = self._signed_claims(token, issuer)
        now = self.now()
        expires_at = float(claims["exp"])
        if now >= expires_at:
            raise TokenExpired(expires_at, now)
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and now + NOT_BEFORE_LEEWAY < not_before:
            raise TokenNotYetValid(float(not_before), now)
        subject = str(claims["sub"])
        candidates = [c for c in candidates if c.subject in (None, subject)]
        if not candidates:
            raise SubjectNotAllowed(subject)
        aud = claims["aud"]
        audiences = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud)
        match = next((c for c in candidates if c.audiences.intersection(audiences)), None)
        if match is None:
            raise AudienceNotAllowed(audiences)
        return VerifiedToken(issuer, subject, audiences, expires_at, match, claims)

    def _signed_claims(self, token: str, issuer: str) -> dict[str, Any]:
        jwks = self._issuer(issuer).jwks
        try:
            key = jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise KeysUnavailable(f"the key set of {issuer!r} could not be read") from None
        except (jwt.PyJWKClientError, jwt.DecodeError):
            raise BadSignature("the token's signing key is not in the issuer's key set") from None
        options: Any = {
            "require": ["iss", "sub", "aud", "exp"],
            "verify_aud": False,  # matched against the credentials below
            "verify_exp": False,  # judged by this validator's clock
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=ALGORITHMS, issuer=issuer, options=options
            )
        except jwt.InvalidSignatureError:
            raise BadSignature("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as err:
            raise MalformedToken(f"the token has no {err.claim!r} claim") from None
        except jwt.PyJWTError as err:
            raise MalformedToken(f"the token is not acceptable: {type(err).__name__}") from None
        return claims

    def _issuer(self, issuer: str) -> _Issuer:
        with self._lock:
            known = self._issuers.get(issuer)
            context = self._contexts.get(issuer)
        if known is not None:
            return known
        discovery = self._discovery(issuer, context)
        jwks_uri = discovery.get("jwks_uri")
        if discovery.get("issuer") != issuer or not isinstance(jwks_uri, str):
            raise KeysUnavailable(f"the discovery document of {issuer!r} does not name it")
        made = _Issuer(jwt.PyJWKClient(jwks_uri, timeout=self.timeout, ssl_context=context))
        with self._lock:
            self._issuers[issuer] = made
        return made

    def _discovery(self, issuer: str, context: ssl.SSLContext | None) -> dict[str, Any]:
        url = issuer.rstrip("/") + DISCOVERY_PATH
        if not url.startswith("https://"):
            raise KeysUnavailable(f"the issuer {issuer!r} is not an https URL")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as resp:  # noqa: S310
                document = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise KeysUnavailable(
                f"the discovery document of {issuer!r} could not be read: {err}"
            ) from None
        if not isinstance(document, dict):
            raise KeysUnavailable(f"the discovery document of {issuer!r} is not an object")
        return document
