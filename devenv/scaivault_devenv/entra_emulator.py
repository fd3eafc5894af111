"""The Entra ID token endpoints the Key Vault emulator needs, emulated.

- ``POST /{tenant}/oauth2/v2.0/token``: the client credentials grant, either with
  the one configured client secret (the development client), or with a client
  assertion (``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:
  jwt-bearer``, what azure-identity's ``WorkloadIdentityCredential`` and
  ``ClientAssertionCredential`` send) for an application with federated identity
  credentials. The assertion is verified as Entra ID does: against its issuer's
  OIDC discovery and keys, and a federated credential of that application
  (issuer, subject, audience ``api://AzureADTokenExchange``). Errors carry
  Entra ID's ``AADSTS`` codes.
- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (read by MSAL).
- ``GET /msi/token``: an App Service style managed identity endpoint
  (``IDENTITY_ENDPOINT``); ``X-IDENTITY-HEADER`` must match ``IDENTITY_HEADER``.

Applications with federated credentials are registered by the harness with
``PUT /_emulator/applications/{client_id}`` ``{"federatedCredentials": [{"issuer",
"subject", "audiences"}], "readPrefixes": [...], "tokenSeconds": 3600}``: their
access tokens may list the vault and read the secrets whose names start with a
prefix of theirs (as Key Vault Reader on the vault and Key Vault Secrets User on
those secrets would), nothing else. The development client and the managed
identity may do everything. The issuers, the clock tokens are judged by and the
exchange counts are :mod:`~scaivault_devenv.federation`'s admin calls.

Access tokens are opaque random strings; the vault side asks
:meth:`TokenIssuer.identity` about each one, so wrong credentials fail as in Azure.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .federation import (
    AdminInputError,
    FederationAdmin,
    admin_body,
    admin_error,
    credentials_from_json,
    seconds_field,
    strings_field,
)
from .oidc_validator import (
    AudienceNotAllowed,
    BadSignature,
    FederatedCredential,
    KeysUnavailable,
    SubjectNotAllowed,
    TokenExpired,
    TokenNotYetValid,
    TokenRefused,
    UntrustedIssuer,
)

RESOURCE = "https://vault.azure.net"
TOKEN_LIFETIME = 3600
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the audience Entra ID expects on a federated credential's token
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
#: the identity of managed identity tokens
MANAGED_IDENTITY = "managed-identity"


@dataclass(frozen=True)
class Application:
    """An application registration with federated identity credentials."""

    client_id: str
    federated: tuple[FederatedCredential, ...]
    #: secret name prefixes (compared without case) its tokens may read
    read_prefixes: tuple[str, ...]
    token_seconds: int = TOKEN_LIFETIME

    def may_read(self, name: str) -> bool:
        return name.lower().startswith(tuple(p.lower() for p in self.read_prefixes))


class EntraError(Exception):
    """A token endpoint error in Entra ID's shape."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = f"AADSTS{code}: {description}"

    def response(self) -> web.Response:
        body = {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [self.code],
        }
        return web.json_response(body, status=self.status)


_NO_MATCH = "No matching federated identity record found for presented assertion"


def assertion_error(refusal: TokenRefused) -> EntraError:
    """What Entra ID answers for an assertion that failed ``refusal``'s check."""
    code, message = 50027, "JWT token is invalid or is malformed."
    match refusal:
        case UntrustedIssuer(issuer=issuer):
            code, message = 700211, f"{_NO_MATCH} issuer '{issuer}'."
        case SubjectNotAllowed(subject=subject):
            code, message = 700213, f"{_NO_MATCH} subject '{subject}'."
        case AudienceNotAllowed(audiences=audiences):
            code, message = 700212, f"{_NO_MATCH} audience '{','.join(audiences)}'."
        case TokenExpired() | TokenNotYetValid():
            code, message = (
                700024,
                f"Client assertion is not within its valid time range: {refusal}",
            )
        case BadSignature():
            code, message = 700027, "Client assertion failed signature validation."
        case KeysUnavailable():
            code, message = 50166, "Request to External OIDC endpoint failed."
    return EntraError(400, "invalid_client", code, message)


@dataclass
class TokenIssuer:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    identity_header: str = field(repr=False)
    #: token -> (expiry, identity: a client ID or MANAGED_IDENTITY)
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict, repr=False)
    applications: dict[str, Application] = field(default_factory=dict)
    federation: FederationAdmin = field(default_factory=FederationAdmin)

    def identity(self, token: str) -> str | None:
        """Whose unexpired token this is; ``None`` for anything else."""
        expiry, who = self.tokens.get(token, (0.0, ""))
        return who if expiry > time.time() else None

    def may_read(self, identity: str, name: str) -> bool:
        app = self.applications.get(identity)
        return app is None or app.may_read(name)

    def may_write(self, identity: str) -> bool:
        return identity not in self.applications

    def issue(self, identity: str, seconds: int = TOKEN_LIFETIME) -> dict[str, Any]:
        now = time.time()
        for stale in [t for t, (expiry, _) in self.tokens.items() if expiry <= now]:
            del self.tokens[stale]
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (now + seconds, identity)
        return {"token_type": "Bearer", "expires_in": seconds, "access_token": token}

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            identity, seconds = await self._client_credentials(request, form)
        except EntraError as error:
            return error.response()
        return web.json_response({**self.issue(identity, seconds), "ext_expires_in": seconds})

    async def _client_credentials(self, request: web.Request, form: Any) -> tuple[str, int]:
        if request.match_info["tenant"] != self.tenant_id:
            raise EntraError(400, "invalid_request", 90002, "Tenant not found.")
        client_id = form.get("client_id")
        app = self.applications.get(client_id) if isinstance(client_id, str) else None
        if client_id != self.client_id and app is None:
            raise EntraError(400, "unauthorized_client", 700016, "Unknown application.")
        if form.get("grant_type") != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003, "Unsupported grant.")
        assertion = form.get("client_assertion")
        if isinstance(assertion, str):
            if form.get("client_assertion_type") != JWT_BEARER:
                message = "The request body must contain the parameter 'client_assertion_type'."
                raise EntraError(400, "invalid_request", 900144, message)
            return await self._federated(str(client_id), app, assertion)
        secret = form.get("client_secret")
        if (
            client_id == self.client_id
            and isinstance(secret, str)
            and secrets.compare_digest(secret, self.client_secret)
        ):
            return self.client_id, TOKEN_LIFETIME
        raise EntraError(401, "invalid_client", 7000215, "Invalid client secret provided.")

    async def _federated(
        self, client_id: str, app: Application | None, assertion: str
    ) -> tuple[str, int]:
        federated = app.federated if app is not None else ()
        try:
            await self.federation.verify(assertion, federated)
        except TokenRefused as refusal:
            error = assertion_error(refusal)
            self.federation.refused[f"AADSTS{error.code}"] += 1
            raise error from None
        self.federation.granted[client_id] += 1
        return client_id, app.token_seconds if app is not None else TOKEN_LIFETIME

    async def openid_configuration(self, request: web.Request) -> web.Response:
        if request.match_info["tenant"] != self.tenant_id:
            return EntraError(400, "invalid_tenant", 90002, "Tenant not found.").response()
        issuer = f"https://{request.host}/{self.tenant_id}"
        body = {
            "issuer": f"{issuer}/v2.0",
            "token_endpoint": f"{issuer}/oauth2/v2.0/token",
            "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
            "jwks_uri": f"{issuer}/discovery/v2.0/keys",
        }
        return web.json_response(body)

    async def managed_identity(self, request: web.Request) -> web.Response:
        header = request.headers.get("X-IDENTITY-HEADER", "")
        if not secrets.compare_digest(header, self.identity_header):
            return web.json_response({"error": "invalid identity header"}, status=401)
        expires_on = int(time.time()) + TOKEN_LIFETIME
        resource = request.query.get("resource", RESOURCE)
        return web.json_response(
            {**self.issue(MANAGED_IDENTITY), "expires_on": str(expires_on), "resource": resource}
        )

    async def register_application(self, request: web.Request) -> web.Response:
        client_id = request.match_info["client_id"]
        try:
            body = await admin_body(request)
            federated = credentials_from_json(
                body.get("federatedCredentials"), "federatedCredentials", client_id
            )
            prefixes = strings_field(body, "readPrefixes", [])
            seconds = seconds_field(body, "tokenSeconds", TOKEN_LIFETIME)
        except AdminInputError as error:
            return admin_error(error)
        if client_id == self.client_id:
            return admin_error(AdminInputError("client_id: the development client is built in"))
        self.applications[client_id] = Application(
            client_id, tuple(federated), tuple(prefixes), seconds
        )
        return web.json_response({"clientId": client_id, "federatedCredentials": len(federated)})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_get(
            "/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration
        )
        app.router.add_get("/msi/token", self.managed_identity)
        app.router.add_put("/_emulator/applications/{client_id}", self.register_application)
        self.federation.add_routes(app)
