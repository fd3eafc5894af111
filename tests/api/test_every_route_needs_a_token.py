"""Authentication cannot be forgotten: every route the application serves, found by
walking its router, answers 401 without a valid token, for every method it has,
except the explicit public list; the public routes answer without one.

A route added later is covered without touching this file. A path parameter
with no sample value below is filled with ``probe``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.api.server import ApiServer
from scaivault_federation.settings import Settings

from .conftest import API_NAMESPACE, Tokens
from .helpers import FED, ApiClient, vault_body

pytestmark = pytest.mark.e2e

# header sets that must never get past authentication (None: no Authorization header)
BAD_AUTHORIZATION: dict[str, str | None] = {
    "no header": None,
    "empty bearer": "Bearer ",
    "other scheme": "Basic eDp5",
    "bare token": "not-a-valid-token",
    "unknown token": "Bearer not-a-valid-token",
    "jwt-shaped token": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: the routes declared public (``Security.NONE``), and no other
PUBLIC_ROUTES = frozenset(
    {("GET", "/healthz"), ("GET", "/metrics"), ("GET", f"{FED}/openapi.json")}
)
PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def served_routes(server: ApiServer) -> set[tuple[str, str]]:
    """(method, route template) of every route of the application, HEAD included."""
    routes = set()
    for route in server.app.router.routes():
        assert route.resource is not None, route
        routes.add((route.method, route.resource.canonical))
    return routes


def is_public(method: str, template: str) -> bool:
    return ("GET" if method == "HEAD" else method, template) in PUBLIC_ROUTES


def concrete(template: str, samples: dict[str, str]) -> str:
    return PARAM.sub(lambda m: samples.get(m.group(1), "probe"), template)


async def call(
    session: aiohttp.ClientSession, base: str, method: str, path: str, authorization: str | None
) -> tuple[int, Any, Any]:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"data": {"k": "v"}} if method in BODY_METHODS else None
    async with session.request(
        method, base + path, json=body, headers=headers, params={"namespace": API_NAMESPACE}
    ) as resp:
        raw = await resp.read()
        parsed = await resp.json() if raw and resp.content_type == "application/json" else None
        return resp.status, parsed, resp.headers


def documented(doc: dict[str, Any], *, public: bool) -> set[tuple[str, str]]:
    """(method, path) of the document's operations that need no security, or do."""
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters" and (op.get("security", doc["security"]) == []) == public
    }


async def test_every_route_but_the_public_ones_needs_a_token(
    api: ApiClient,
    api_server: ApiServer,
    http_session: aiohttp.ClientSession,
    openapi_doc: dict[str, Any],
) -> None:
    name = f"walk-{uuid.uuid4().hex[:6]}"
    created = await api.post(f"{FED}/backends", json=vault_body(name, "http://127.0.0.1:1", "w"))
    assert created.status == 201, created.body
    samples = {"id": created.body["id"], "path": "auth/walk"}
    protected = sorted(r for r in served_routes(api_server) if not is_public(*r))
    # the walk sees the whole API: each documented protected operation (and the HEAD
    # routes aiohttp adds next to a GET)
    assert {r for r in protected if r[0] != "HEAD"} == documented(openapi_doc, public=False)
    heads = {t for m, t in protected if m == "HEAD"}
    assert heads and heads <= {t for m, t in protected if m == "GET"}

    for method, template in protected:
        path = concrete(template, samples)
        for what, authorization in BAD_AUTHORIZATION.items():
            status, body, headers = await call(
                http_session, api_server.url, method, path, authorization
            )
            where = f"{method} {template} with {what}"
            assert status == 401, f"{where}: {status} {body}"
            assert headers["WWW-Authenticate"].startswith("Bearer "), where
            if method != "HEAD":
                assert body["error"]["code"] == "unauthenticated", f"{where}: {body}"
                assert set(body["error"]) == {"code", "message"}, f"{where}: {body}"

    # the same requests with a valid token get past authentication (so the 401s above
    # came from the token, not from the request); DELETE last, it removes the backend
    for method, template in sorted(protected, key=lambda r: r[0] == "DELETE"):
        admin = f"Bearer {api.token}"
        status, body, _ = await call(
            http_session, api_server.url, method, concrete(template, samples), admin
        )
        assert status not in (401, 403), f"{method} {template}: {status} {body}"


async def test_public_routes_answer_without_a_token(
    api_server: ApiServer, http_session: aiohttp.ClientSession, openapi_doc: dict[str, Any]
) -> None:
    routes = served_routes(api_server)
    public = sorted(r for r in routes if is_public(*r))
    # every public entry is a served route, GET and HEAD
    expected = {(m, t) for _, t in PUBLIC_ROUTES for m in ("GET", "HEAD")}
    assert set(public) == expected
    # the document marks exactly these operations as needing no security
    assert documented(openapi_doc, public=True) == PUBLIC_ROUTES
    for method, template in public:
        for authorization in (None, "Bearer not-a-valid-token"):
            status, body, _ = await call(
                http_session, api_server.url, method, template, authorization
            )
            assert status == 200, f"{method} {template}: {status} {body}"


async def test_unknown_paths_and_methods_need_no_token(api: ApiClient) -> None:
    """The router's own 404 and 405 are answered the same with or without a token."""
    anonymous = api.with_token(None)
    for client in (api, anonymous):
        nowhere = await client.get("/v1/nowhere", check=False)
        assert nowhere.status == 404 and nowhere.error["code"] == "not_found"
        wrong = await client.call("DELETE", f"{FED}/backends", check=False)
        assert wrong.status == 405 and wrong.error["code"] == "method_not_allowed"
        assert "GET" in wrong.headers["Allow"]


async def test_while_loading_401_comes_before_503(
    control_plane: ControlPlane, crd: None, tokens: tuple[Path, Tokens]
) -> None:
    """Before the backend cache is loaded, a caller without a valid token still gets
    401; an authenticated one gets the 503 with Retry-After."""
    settings = Settings.load(
        api_default_namespace=API_NAMESPACE,
        api_static_tokens=tokens[0],
        kubeconfig=str(control_plane.kubeconfig),
    )
    server = ApiServer(settings)  # its cache is never started
    http = TestServer(server.app, host="127.0.0.1")
    await http.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            base = str(http.make_url(""))
            for path in (f"{FED}/backends", "/v1/secrets/a/b"):
                status, body, _ = await call(session, base, "GET", path, None)
                assert status == 401 and body["error"]["code"] == "unauthenticated"
                admin = f"Bearer {tokens[1].admin}"
                status, body, headers = await call(session, base, "GET", path, admin)
                assert status == 503 and body["error"]["code"] == "unavailable"
                assert int(headers["Retry-After"]) >= 1
            status, body, _ = await call(session, base, "GET", "/healthz", None)
            assert status == 503 and body == {"status": "starting"}
    finally:
        await http.close()
        await server.stop()
