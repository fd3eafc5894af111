"""The Entra ID token endpoints the Key Vault emulator needs, emulated.

- ``POST /{tenant}/oauth2/v2.0/token``: the client credentials grant, with the
  one configured client secret, or with a client assertion (workload identity)
  for the configured client ID; the assertion must look like a JWT but is not
  verified. Errors carry Entra ID's ``AADSTS`` codes.
- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (read by MSAL).
- ``GET /msi/token``: an App Service style managed identity endpoint
  (``IDENTITY_ENDPOINT``); ``X-IDENTITY-HEADER`` must match ``IDENTITY_HEADER``.

Access tokens are opaque random strings valid for an hour; the vault side asks
:meth:`TokenIssuer.valid` about each one, so wrong credentials fail as in Azure.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RESOURCE = "https://vault.azure.net"
TOKEN_LIFETIME = 3600


@dataclass
class TokenIssuer:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    identity_header: str = field(repr=False)
    tokens: dict[str, float] = field(default_factory=dict, repr=False)  # token -> expiry

    def valid(self, token: str) -> bool:
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.time()

    def issue(self) -> dict[str, Any]:
        now = time.time()
        for stale in [t for t, expiry in self.tokens.items() if expiry <= now]:
            del self.tokens[stale]
        token = secrets.token_urlsafe(32)
        self.tokens[token] = now + TOKEN_LIFETIME
        return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.match_info["tenant"] != self.tenant_id:
            return _aad_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("client_id") != self.client_id:
            return _aad_error(400, "unauthorized_client", "AADSTS700016: Unknown application.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: Unsupported grant.")
        secret, assertion = form.get("client_secret"), form.get("client_assertion")
        if not (
            (isinstance(secret, str) and secrets.compare_digest(secret, self.client_secret))
            or (isinstance(assertion, str) and assertion.count(".") == 2)
        ):
            return _aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret.")
        return web.json_response({**self.issue(), "ext_expires_in": TOKEN_LIFETIME})

    async def openid_configuration(self, request: web.Request) -> web.Response:
        if request.match_info["tenant"] != self.tenant_id:
            return _aad_error(400, "invalid_tenant", "AADSTS90002: Tenant not found.")
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
            {**self.issue(), "expires_on": str(expires_on), "resource": resource}
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_get(
            "/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration
        )
        app.router.add_get("/msi/token", self.managed_identity)


def _aad_error(status: int, error: str, description: str) -> web.Response:
    code = int(description.split(":")[0].removeprefix("AADSTS"))
    body = {"error": error, "error_description": description, "error_codes": [code]}
    return web.json_response(body, status=status)
