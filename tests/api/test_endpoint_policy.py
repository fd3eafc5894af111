"""The API refuses every spelling of an endpoint the operator would refuse, with a 400
naming the field; and a proxied read never follows a backend's redirect past the
allowlist. Nothing here connects outside 127.0.0.1: the refused addresses are
judged as written, and the redirect's target is a second loopback listener."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import free_port
from tests.api_server import started_api

from .conftest import Namespace, Tokens, api_settings
from .helpers import FED, ApiClient, OpenApiChecker, changed, vault_body
from .test_secrets import put_token_secret

pytestmark = pytest.mark.e2e

METADATA_SPELLINGS = [
    "2852039166",
    "0xa9fea9fe",
    "025177524776",
    "169.254.43518",
    "169.16689662",
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",
    "[::169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
]


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254\\@vault.example",
        "http://internal:8080\\@secretsmanager.eu-west-1.amazonaws.com",
        "http://user:password@vault.example",
        "http://169.254.169.254@vault.example",
        "http://vault.example:65536",
        "http://vault.example:0",
        "http://vault.example:99999999999",
        *(f"http://{host}/latest/meta-data" for host in METADATA_SPELLINGS),
    ],
)
async def test_refused_endpoints_are_400_naming_the_field(
    api: ApiClient, ns: Namespace, endpoint: str
) -> None:
    # suspended: were one accepted, no process would ever connect to it
    body = changed(
        vault_body("bad", "http://127.0.0.1:1", "x", namespace=ns.name, suspend=True),
        {"config": {"endpoint": endpoint, "auth_config_path": "a/b"}},
    )
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 400, reply.body
    assert reply.error["field"] == "config.endpoint", reply.error
    assert "config.endpoint" in reply.error["message"]
    aws = {
        "name": "bad-aws",
        "namespace": ns.name,
        "type": "aws-secrets-manager",
        "config": {"region": "eu-west-1", "endpoint": endpoint},
        "path_mapping": {"a/**": "b/**"},
        "mode": "proxy",
        "suspend": True,
    }
    reply = await api.post(f"{FED}/backends", json=aws)
    assert reply.status == 400 and reply.error["field"] == "config.endpoint", reply.body


class Listener:
    """An HTTP listener on 127.0.0.1 that records each request and answers with
    ``answer`` (a 307 to ``redirect_to`` when given, else 200 ``{}``)."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.seen: list[str] = []
        self.redirect_to = redirect_to
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(f"{request.method} {request.path_qs}")
        if self.redirect_to is not None:
            raise web.HTTPTemporaryRedirect(self.redirect_to + request.path_qs)
        return web.json_response({"data": {}})

    async def __aenter__(self) -> Listener:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def listeners() -> AsyncIterator[tuple[Listener, Listener]]:
    async with Listener() as elsewhere, Listener(elsewhere.url) as backend:
        yield backend, elsewhere


async def test_a_proxied_read_does_not_follow_a_redirect_past_the_allowlist(
    control_plane: ControlPlane,
    crd: None,
    tokens: tuple[Path, Tokens],
    listeners: tuple[Listener, Listener],
    ns: Namespace,
    http_session: Any,
    checker: OpenApiChecker,
) -> None:
    backend, elsewhere = listeners
    settings = api_settings(control_plane, tokens, allowed_endpoints=f"127.0.0.1:{backend.port}")
    async with started_api(settings) as server:
        api = ApiClient(http_session, server.url, checker, tokens[1].admin)
        await put_token_secret(ns, "s.token-that-stays-home")
        body = vault_body(f"redirect-{uuid.uuid4().hex[:6]}", backend.url, "x", mode="proxy")
        body.pop("sync_interval")
        body["namespace"] = ns.name
        created = await api.post(f"{FED}/backends", json=body)
        assert created.status == 201, created.body
        refused = changed(body, {"name": "elsewhere", "config": {"endpoint": elsewhere.url}})
        not_allowed = await api.post(f"{FED}/backends", json=refused)
        assert not_allowed.status == 400 and not_allowed.error["field"] == "config.endpoint"

        reply = await api.get("/v1/secrets/external/vault/a", params={"namespace": ns.name})
        assert reply.status >= 500, reply.body
        assert "s.token-that-stays-home" not in str(reply.body)
    assert backend.seen, "the backend was asked"
    assert elsewhere.seen == []
