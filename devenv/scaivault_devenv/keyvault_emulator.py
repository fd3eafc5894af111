"""An Azure Key Vault *secrets* API emulator, with the Entra ID token endpoints it needs.

A protocol emulator for `dev` and the tests: the unmodified
``azure-keyvault-secrets`` and ``azure-identity`` clients talk to it over HTTPS.
It follows the Key Vault REST API (secrets, API versions 7.x and later) for
what this project uses:

- challenge authentication: a request without a valid bearer token gets 401
  with ``WWW-Authenticate: Bearer authorization="<authority>/<tenant>",
  resource="https://vault.azure.net"``;
- ``PUT /secrets/{name}``, ``GET /secrets/{name}[/{version}]``,
  ``PATCH /secrets/{name}/{version}``, ``GET /secrets`` (``maxresults`` 1-25,
  ``nextLink`` with ``$skiptoken``), ``GET /secrets/{name}/versions``,
  ``DELETE /secrets/{name}`` (soft delete), ``GET|DELETE /deletedsecrets/{name}``,
  ``GET /deletedsecrets`` and ``POST /deletedsecrets/{name}/recover``;
- names ``[0-9a-zA-Z-]{1,127}``, compared without regard to case; a disabled
  secret cannot be read (403 ``Forbidden``/``SecretDisabled``) but is listed;
  ``nbf``/``exp`` are stored and returned, not enforced (as in Key Vault);
- errors as ``{"error": {"code", "message"}}`` with Key Vault's codes.

Tokens come from the Entra ID endpoints of
:mod:`~scaivault_devenv.entra_emulator` on the same port; every vault
call checks its token, so wrong credentials fail as they would in Azure.

Roles: the development client and the managed identity may do everything; an
application registered with federated credentials (see
:mod:`~scaivault_devenv.entra_emulator`) may list and read metadata, and read
the values of the secrets under its name prefixes; anything else is 403
``Forbidden``/``ForbiddenByRbac``.

Not emulated: keys, certificates, backup/restore, role assignments beyond
those, access policies, tags filtering, purge protection,
soft-delete retention, and throttling unless asked for through
``POST /_emulator/faults`` (``{"status": 429, "times": 1, "retry_after": 2}``;
the next vault calls answer with that status; ``DELETE /_emulator/faults`` drops those
still pending). ``GET /_emulator/stats``
counts the secrets a listing returns. State lives in memory only.

Run it as ``python -m scaivault_devenv.keyvault_emulator`` (see
:mod:`scaivault_devenv.keyvault` for the managed process).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from .entra_emulator import RESOURCE, TokenIssuer

PAGE_SIZE = 25
_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_RECOVERY = {"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
#: the vault calls a role must allow, by handler; the others read metadata only
_ACTIONS = {
    "get_secret": "getSecret",
    "set_secret": "setSecret",
    "update_secret": "updateSecret",
    "delete_secret": "delete",
    "purge": "purge",
    "recover": "recover",
}


@dataclass
class Version:
    id: str
    value: str = field(repr=False)
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": self.enabled, "created": self.created}
        attrs["updated"] = self.updated
        if self.nbf is not None:
            attrs["nbf"] = self.nbf
        if self.exp is not None:
            attrs["exp"] = self.exp
        return {**attrs, **_RECOVERY}


@dataclass
class Secret:
    name: str  # as first written
    versions: list[Version] = field(default_factory=list)
    deleted_on: int | None = None


class KeyVaultError(Exception):
    """An error answer in Key Vault's shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        error: dict[str, Any] = {"code": code, "message": message}
        if inner:
            error["innererror"] = {"code": inner}
        self.response = web.json_response({"error": error}, status=status, headers=headers)


@dataclass
class Emulator:
    issuer: TokenIssuer
    store: dict[str, Secret] = field(default_factory=dict)  # lower-case name -> secret
    faults: list[tuple[int, int | None]] = field(default_factory=list)  # (status, retry after)

    def authorize(self, request: web.Request) -> str:
        """The identity of the request's bearer token (401 with the challenge without one)."""
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        identity = self.issuer.identity(token)
        if identity is None:
            authority = f"https://{request.host}/{self.issuer.tenant_id}"
            challenge = f'Bearer authorization="{authority}", resource="{RESOURCE}"'
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers={"WWW-Authenticate": challenge},
            )
        return identity

    def check_role(self, request: web.Request, identity: str) -> None:
        """Listings and metadata are open to every identity (Key Vault Reader); reading a
        value needs a grant on its name (Key Vault Secrets User), changing anything an
        identity without limits (the development client, the managed identity)."""
        handler = getattr(request.match_info.handler, "__name__", "")
        action = _ACTIONS.get(handler)
        if action is None:
            return
        name = request.match_info.get("name", "")
        allowed = (
            self.issuer.may_read(identity, name)
            if action == "getSecret"
            else self.issuer.may_write(identity)
        )
        if not allowed:
            raise KeyVaultError(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource. "
                f"Caller: appid={identity}. "
                f"Action: 'Microsoft.KeyVault/vaults/secrets/{action}/action'. "
                f"Resource: '{request.path}'. Assignment: (not found).",
                "ForbiddenByRbac",
            )

    # -- vault API ------------------------------------------------------------------------

    @web.middleware
    async def vault_guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(("/secrets", "/deletedsecrets")):
            return await handler(request)
        if self.faults:
            status, retry_after = self.faults.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            code = "Throttled" if status == 429 else "InternalServerError"
            body = {"error": {"code": code, "message": "injected fault"}}
            return web.json_response(body, status=status, headers=headers)
        try:
            if "api-version" not in request.query:
                raise KeyVaultError(400, "BadParameter", "The 'api-version' parameter is missing.")
            self.check_role(request, self.authorize(request))
            response: web.StreamResponse = await handler(request)
        except KeyVaultError as error:
            return error.response
        return response

    def _find(self, name: str, *, deleted: bool = False) -> Secret:
        secret = self.store.get(name.lower())
        if secret is None or (secret.deleted_on is not None) != deleted:
            kind = "deleted secret" if deleted else "secret"
            raise KeyVaultError(
                404, "SecretNotFound", f"A {kind} with (name/id) {name} was not found."
            )
        return secret

    def _version(self, secret: Secret, version: str) -> Version:
        if not version:
            return secret.versions[-1]
        for candidate in secret.versions:
            if candidate.id == version:
                return candidate
        raise KeyVaultError(404, "SecretNotFound", f"Version {version} of {secret.name} not found.")

    async def set_secret(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not _NAME.fullmatch(name):
            raise KeyVaultError(400, "BadParameter", "The secret name is invalid.")
        body = await _json(request)
        value = body.get("value")
        if not isinstance(value, str):
            raise KeyVaultError(400, "BadParameter", "The secret value is missing.")
        secret = self.store.setdefault(name.lower(), Secret(name))
        if secret.deleted_on is not None:
            raise KeyVaultError(409, "Conflict", f"Secret {name} is in a deleted state.")
        attrs = body.get("attributes") or {}
        now = int(time.time())
        version = Version(
            id=secrets.token_hex(16),
            value=value,
            content_type=body.get("contentType"),
            tags=dict(body.get("tags") or {}),
            enabled=attrs.get("enabled", True) is not False,
            nbf=attrs.get("nbf"),
            exp=attrs.get("exp"),
            created=now,
            updated=now,
        )
        secret.versions.append(version)
        return web.json_response(self._bundle(request, secret, version, with_value=True))

    async def get_secret(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"])
        version = self._version(secret, request.match_info.get("version", ""))
        if not version.enabled:
            raise KeyVaultError(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                "SecretDisabled",
            )
        return web.json_response(self._bundle(request, secret, version, with_value=True))

    async def update_secret(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"])
        version = self._version(secret, request.match_info.get("version", ""))
        body = await _json(request)
        attrs = body.get("attributes") or {}
        if "enabled" in attrs:
            version.enabled = attrs["enabled"] is not False
        for key in ("nbf", "exp"):
            if key in attrs:
                setattr(version, key, attrs[key])
        if "contentType" in body:
            version.content_type = body["contentType"]
        if "tags" in body:
            version.tags = dict(body["tags"] or {})
        version.updated = int(time.time())
        return web.json_response(self._bundle(request, secret, version, with_value=False))

    async def list_secrets(self, request: web.Request) -> web.Response:
        live = [s for s in self.store.values() if s.deleted_on is None]
        return self._page(request, live, lambda s: self._item(request, s, s.versions[-1]))

    async def list_versions(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"])
        return self._page(
            request, secret.versions, lambda v: self._item(request, secret, v, versioned=True)
        )

    async def delete_secret(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"])
        secret.deleted_on = int(time.time())
        return web.json_response(self._deleted(request, secret))

    async def get_deleted(self, request: web.Request) -> web.Response:
        return web.json_response(
            self._deleted(request, self._find(request.match_info["name"], deleted=True))
        )

    async def list_deleted(self, request: web.Request) -> web.Response:
        gone = [s for s in self.store.values() if s.deleted_on is not None]
        return self._page(request, gone, lambda s: self._deleted(request, s))

    async def purge(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"], deleted=True)
        del self.store[secret.name.lower()]
        return web.Response(status=204)

    async def recover(self, request: web.Request) -> web.Response:
        secret = self._find(request.match_info["name"], deleted=True)
        secret.deleted_on = None
        return web.json_response(
            self._bundle(request, secret, secret.versions[-1], with_value=False)
        )

    # -- representations ------------------------------------------------------------------

    def _page(self, request: web.Request, items: list[Any], render: Any) -> web.Response:
        try:
            size = int(request.query.get("maxresults", PAGE_SIZE))
        except ValueError:
            size = 0
        if not 1 <= size <= PAGE_SIZE:
            raise KeyVaultError(400, "BadParameter", "maxresults must be between 1 and 25.")
        start = int(base64.urlsafe_b64decode(request.query.get("$skiptoken", "MA==")) or 0)
        page = items[start : start + size]
        body: dict[str, Any] = {"value": [render(item) for item in page], "nextLink": None}
        if start + size < len(items):
            token = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            query = f"api-version={request.query['api-version']}&maxresults={size}"
            body["nextLink"] = f"{_base(request)}{request.path}?{query}&$skiptoken={quote(token)}"
        return web.json_response(body)

    def _item(
        self, request: web.Request, secret: Secret, version: Version, *, versioned: bool = False
    ) -> dict[str, Any]:
        sid = f"{_base(request)}/secrets/{secret.name}" + (f"/{version.id}" if versioned else "")
        item: dict[str, Any] = {"id": sid, "attributes": version.attributes(), "tags": version.tags}
        if version.content_type is not None:
            item["contentType"] = version.content_type
        return item

    def _bundle(
        self, request: web.Request, secret: Secret, version: Version, *, with_value: bool
    ) -> dict[str, Any]:
        bundle = self._item(request, secret, version, versioned=True)
        if with_value:
            bundle["value"] = version.value
        return bundle

    def _deleted(self, request: web.Request, secret: Secret) -> dict[str, Any]:
        bundle = self._bundle(request, secret, secret.versions[-1], with_value=False)
        bundle["recoveryId"] = f"{_base(request)}/deletedsecrets/{secret.name}"
        bundle["deletedDate"] = secret.deleted_on
        bundle["scheduledPurgeDate"] = (secret.deleted_on or 0) + 90 * 86400
        return bundle

    # -- emulator admin -------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        live = sum(1 for s in self.store.values() if s.deleted_on is None)
        return web.json_response({"secrets": live})

    async def add_faults(self, request: web.Request) -> web.Response:
        body = await _json(request)
        fault = (int(body.get("status", 503)), body.get("retry_after"))
        self.faults.extend([fault] * int(body.get("times", 1)))
        return web.json_response({"pending": len(self.faults)})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"pending": 0})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.vault_guard])
        r = app.router
        r.add_get("/healthz", self.health)
        r.add_get("/_emulator/stats", self.stats)
        r.add_post("/_emulator/faults", self.add_faults)
        r.add_delete("/_emulator/faults", self.clear_faults)
        self.issuer.add_routes(app)
        r.add_get("/secrets", self.list_secrets)
        r.add_put("/secrets/{name}", self.set_secret)
        r.add_delete("/secrets/{name}", self.delete_secret)
        r.add_get("/secrets/{name}/versions", self.list_versions)
        r.add_get("/secrets/{name}", self.get_secret)
        r.add_get("/secrets/{name}/{version:[^/]*}", self.get_secret)
        r.add_patch("/secrets/{name}/{version:[^/]*}", self.update_secret)
        r.add_get("/deletedsecrets", self.list_deleted)
        r.add_get("/deletedsecrets/{name}", self.get_deleted)
        r.add_delete("/deletedsecrets/{name}", self.purge)
        r.add_post("/deletedsecrets/{name}/recover", self.recover)
        return app


def _base(request: web.Request) -> str:
    return f"https://{request.host}"


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise KeyVaultError(400, "BadParameter", "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise KeyVaultError(400, "BadParameter", "The request body must be an object.")
    return body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True, help="PEM server certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args(argv)
    issuer = TokenIssuer(
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        # credentials come through the environment, not the command line
        client_secret=os.environ["KEYVAULT_EMULATOR_CLIENT_SECRET"],
        identity_header=os.environ["KEYVAULT_EMULATOR_IDENTITY_HEADER"],
    )
    emulator = Emulator(issuer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    asyncio.run(_serve(emulator, args.host, args.port, context))


async def _serve(emulator: Emulator, host: str, port: int, context: ssl.SSLContext) -> None:
    runner = web.AppRunner(emulator.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    print(f"keyvault emulator listening on https://{host}:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
