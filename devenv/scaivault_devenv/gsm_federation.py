"""Google's workload identity federation, emulated beside the Secret Manager emulator.

Two REST endpoints on the emulator's HTTP port, what google-auth's
``external_account`` credentials call (their ``token_url`` and
``service_account_impersonation_url`` may point anywhere, so loopback works):

- ``POST /v1/token`` (sts.googleapis.com): an RFC 8693 token exchange,
  ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``,
  ``subject_token_type=urn:ietf:params:oauth:token-type:jwt`` (or ``id_token``) and
  ``audience=//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>``.
  The subject token is verified against the provider's issuer (its OIDC
  discovery and keys) and allowed audiences (by default the provider's own
  name, as in Google); ``google.subject`` is the token's ``sub``. The answer is
  a federated access token of the principal
  ``principal://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/subject/<sub>``.
  Errors as STS gives them: ``invalid_grant``, ``invalid_target``, ...
- ``POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken``
  (iamcredentials.googleapis.com), with a federated access token: allowed when
  the principal holds Workload Identity User on that service account, answered
  with an access token of the service account; ``PERMISSION_DENIED`` otherwise.

A service account's access token carries its IAM permissions on Secret Manager,
limited to the secrets whose ids start with one of its prefixes (what an IAM
condition on ``resource.name`` does). A federated token used on Secret Manager
directly holds no permission.

The harness registers providers and service accounts:

- ``PUT /_emulator/workload-identity-pools/<pool>/providers/<provider>``
  ``{"issuerUri", "allowedAudiences"?, "tokenSeconds"?}``;
- ``PUT /_emulator/service-accounts/<email>`` ``{"workloadIdentityUsers": [principal],
  "permissions": [...], "secretPrefixes": [...], "tokenSeconds"?}``;

and trusts issuers, shifts the token clock and reads the exchange counts through
:class:`~scaivault_devenv.federation.FederationAdmin`.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .federation import (
    AdminInputError,
    FederationAdmin,
    admin_body,
    admin_error,
    seconds_field,
    strings_field,
    text_field,
)
from .oidc_validator import (
    AudienceNotAllowed,
    BadSignature,
    FederatedCredential,
    KeysUnavailable,
    TokenExpired,
    TokenNotYetValid,
    TokenRefused,
    UntrustedIssuer,
)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPES = frozenset(
    {"urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"}
)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GET_ACCESS_TOKEN = "iam.serviceAccounts.getAccessToken"
TOKEN_LIFETIME = 3600
#: how this emulator's access tokens begin (Google's begin with ``ya29.``)
ACCESS_TOKEN_PREFIX = "ya29.emulator-"
_AUDIENCE = re.compile(
    r"^//iam\.googleapis\.com/projects/(?P<number>[^/]+)/locations/global/"
    r"workloadIdentityPools/(?P<pool>[^/]+)/providers/(?P<provider>[^/]+)$"
)


def pool_name(project_number: str, pool: str) -> str:
    return f"projects/{project_number}/locations/global/workloadIdentityPools/{pool}"


def provider_audience(project_number: str, pool: str, provider: str) -> str:
    """The provider's full resource name: the audience of its token exchange."""
    return f"//iam.googleapis.com/{pool_name(project_number, pool)}/providers/{provider}"


def principal(project_number: str, pool: str, subject: str) -> str:
    """The federated principal of ``subject`` in ``pool``."""
    return f"principal://iam.googleapis.com/{pool_name(project_number, pool)}/subject/{subject}"


@dataclass(frozen=True)
class Provider:
    pool: str
    provider: str
    credential: FederatedCredential
    token_seconds: int = TOKEN_LIFETIME


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    workload_identity_users: frozenset[str]
    permissions: frozenset[str]
    #: secret ids (prefixes) its tokens may touch
    secret_prefixes: tuple[str, ...]
    token_seconds: int = TOKEN_LIFETIME


@dataclass(frozen=True)
class Grant:
    """Whose access token it is and what it may do on Secret Manager (nothing for a
    federated principal, which has no roles of its own here)."""

    member: str
    permissions: frozenset[str] = frozenset()
    secret_prefixes: tuple[str, ...] = ()

    def allows(self, permission: str, secret_id: str | None) -> bool:
        if permission not in self.permissions:
            return False
        return secret_id is None or secret_id.startswith(self.secret_prefixes)


class StsError(Exception):
    """An OAuth error answer of the Security Token Service."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=400)


class GoogleApiError(Exception):
    """An error answer of a Google REST API (``{"error": {code, message, status}}``)."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        body = {"error": {"code": self.code, "message": self.message, "status": self.status}}
        return web.json_response(body, status=self.code)


def sts_error(refusal: TokenRefused, provider: Provider) -> StsError:
    """What STS answers for a subject token that failed ``refusal``'s check."""
    expected = provider.credential
    description = "Unable to parse the ID Token."
    match refusal:
        case UntrustedIssuer(issuer=issuer):
            description = (
                f"The issuer in ID Token {issuer} does not match the expected ISSUER "
                f"{expected.issuer}."
            )
        case AudienceNotAllowed(audiences=audiences):
            description = (
                f"The audience in ID Token [{', '.join(audiences)}] does not match the "
                f"expected audience {', '.join(sorted(expected.audiences))}."
            )
        case TokenExpired():
            description = f"The ID Token has expired: {refusal}"
        case TokenNotYetValid():
            description = f"The ID Token is not yet valid: {refusal}"
        case BadSignature():
            description = "Invalid ID Token signature."
        case KeysUnavailable():
            description = f"Failed to fetch the public keys of the issuer {expected.issuer}."
    return StsError("invalid_grant", description)


def _bearer(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""


def _expire_time(expiry: float) -> str:
    return datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lifetime(body: dict[str, Any]) -> int:
    lifetime = body.get("lifetime", f"{TOKEN_LIFETIME}s")
    if not isinstance(lifetime, str) or not re.fullmatch(r"\d+(\.\d+)?s", lifetime):
        raise GoogleApiError(400, "INVALID_ARGUMENT", "lifetime: a duration like '3600s'.")
    return max(1, int(float(lifetime[:-1])))


@dataclass
class WorkloadIdentityFederation:
    """The pools' providers, the service accounts, and the access tokens issued."""

    project_number: str
    providers: dict[tuple[str, str], Provider] = field(default_factory=dict)
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    #: access token -> (expiry, member: a principal:// or a service account's email)
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict, repr=False)
    federation: FederationAdmin = field(default_factory=FederationAdmin)

    def grant(self, token: str) -> Grant | None:
        """What an unexpired access token of this emulator may do; ``None`` for others."""
        expiry, member = self.tokens.get(token, (0.0, ""))
        if expiry <= time.time():
            return None
        account = self.accounts.get(member)
        if account is None:
            return Grant(member)
        return Grant(member, account.permissions, account.secret_prefixes)

    def _issue(self, member: str, seconds: int) -> tuple[str, float]:
        now = time.time()
        for stale in [t for t, (expiry, _) in self.tokens.items() if expiry <= now]:
            del self.tokens[stale]
        token = f"{ACCESS_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
        self.tokens[token] = (now + seconds, member)
        return token, now + seconds

    # -- sts.googleapis.com ---------------------------------------------------------------

    async def token_exchange(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            provider = self._provider(form)
            subject_token = form.get("subject_token")
            if not isinstance(subject_token, str) or not subject_token:
                raise StsError("invalid_request", "subject_token is required.")
            try:
                verified = await self.federation.verify(subject_token, [provider.credential])
            except TokenRefused as refusal:
                raise sts_error(refusal, provider) from None
        except StsError as error:
            self.federation.refused[error.error] += 1
            return error.response()
        member = principal(self.project_number, provider.pool, verified.subject)
        self.federation.granted[member] += 1
        token, _ = self._issue(member, provider.token_seconds)
        body = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": provider.token_seconds,
        }
        return web.json_response(body)

    def _provider(self, form: Any) -> Provider:
        if form.get("grant_type") != TOKEN_EXCHANGE:
            raise StsError("unsupported_grant_type", f"grant_type must be {TOKEN_EXCHANGE}.")
        if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise StsError("invalid_request", "Invalid value for subject_token_type.")
        requested = form.get("requested_token_type", ACCESS_TOKEN_TYPE)
        if requested != ACCESS_TOKEN_TYPE:
            raise StsError("invalid_request", "Invalid value for requested_token_type.")
        match = _AUDIENCE.match(str(form.get("audience", "")))
        provider = None
        if match and match["number"] == self.project_number:
            provider = self.providers.get((match["pool"], match["provider"]))
        if provider is None:
            raise StsError(
                "invalid_target",
                'The target service indicated by the "audience" parameters is invalid. This '
                "might either be because the pool or provider is disabled or deleted or "
                "because it doesn't exist.",
            )
        return provider

    # -- iamcredentials.googleapis.com -----------------------------------------------------

    async def generate_access_token(self, request: web.Request) -> web.Response:
        target = request.match_info["target"]
        email, _, method = target.partition(":")
        if method != "generateAccessToken":
            return GoogleApiError(404, "NOT_FOUND", f"No method {method!r}.").response()
        try:
            body = await self._impersonation_body(request)
            self._check_impersonator(request, email)
            account = self.accounts[email]
            seconds = min(_lifetime(body), account.token_seconds)
        except GoogleApiError as error:
            self.federation.refused[error.status] += 1
            return error.response()
        self.federation.granted[email] += 1
        token, expiry = self._issue(email, seconds)
        return web.json_response({"accessToken": token, "expireTime": _expire_time(expiry)})

    async def _impersonation_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise GoogleApiError(400, "INVALID_ARGUMENT", "The body is not JSON.") from None
        scope = body.get("scope") if isinstance(body, dict) else None
        if not isinstance(scope, list) or not scope:
            raise GoogleApiError(400, "INVALID_ARGUMENT", "scope: at least one is required.")
        return dict(body)

    def _check_impersonator(self, request: web.Request, email: str) -> None:
        grant = self.grant(_bearer(request))
        if grant is None:
            raise GoogleApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        account = self.accounts.get(email)
        if account is None or grant.member not in account.workload_identity_users:
            raise GoogleApiError(
                403,
                "PERMISSION_DENIED",
                f"Permission '{GET_ACCESS_TOKEN}' denied on resource (or it may not exist).",
            )

    # -- the harness's calls ---------------------------------------------------------------

    async def register_provider(self, request: web.Request) -> web.Response:
        pool, name = request.match_info["pool"], request.match_info["provider"]
        audience = provider_audience(self.project_number, pool, name)
        try:
            body = await admin_body(request)
            issuer = text_field(body, "issuerUri")
            if not issuer.startswith("https://"):
                raise AdminInputError("issuerUri: an https URL is expected")
            audiences = strings_field(body, "allowedAudiences", [audience])
            if not audiences:
                raise AdminInputError("allowedAudiences: at least one is expected")
            seconds = seconds_field(body, "tokenSeconds", TOKEN_LIFETIME)
        except AdminInputError as error:
            return admin_error(error)
        credential = FederatedCredential(issuer, frozenset(audiences), None, audience)
        self.providers[(pool, name)] = Provider(pool, name, credential, seconds)
        return web.json_response({"audience": audience})

    async def register_account(self, request: web.Request) -> web.Response:
        email = request.match_info["email"]
        try:
            body = await admin_body(request)
            account = ServiceAccount(
                email,
                frozenset(strings_field(body, "workloadIdentityUsers", [])),
                frozenset(strings_field(body, "permissions", [])),
                tuple(strings_field(body, "secretPrefixes", [])),
                seconds_field(body, "tokenSeconds", TOKEN_LIFETIME),
            )
        except AdminInputError as error:
            return admin_error(error)
        self.accounts[email] = account
        return web.json_response({"email": email})

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1/token", self.token_exchange)
        r.add_post("/v1/projects/{project}/serviceAccounts/{target}", self.generate_access_token)
        r.add_put(
            "/_emulator/workload-identity-pools/{pool}/providers/{provider}",
            self.register_provider,
        )
        r.add_put("/_emulator/service-accounts/{email}", self.register_account)
        self.federation.add_routes(app)
