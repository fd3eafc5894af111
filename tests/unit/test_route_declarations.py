"""The router, the authentication middleware and the OpenAPI document all come from
the route declarations: walking the application's router finds exactly the
document's operations, and a route served without a declaration is caught (and
still needs a token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate

from scaivault_federation.api.access import needs_token
from scaivault_federation.api.openapi import build_openapi
from scaivault_federation.api.route import ROUTES, Answer, Param, Route, Security, declared
from scaivault_federation.api.server import build_app
from scaivault_federation.api.state import ApiState
from scaivault_federation.api.static_tokens import Scope

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def app() -> web.Application:
    """The API's application; its shared state is never reached by these tests."""
    return build_app(cast(ApiState, object()))


def served(application: web.Application) -> set[tuple[str, str]]:
    """(method, route template) of every route of the router; a HEAD beside a GET."""
    routes = {(r.method, r.resource.canonical) for r in application.router.routes() if r.resource}
    heads = {t for m, t in routes if m == "HEAD"}
    assert heads <= {t for m, t in routes if m == "GET"}
    return {r for r in routes if r[0] != "HEAD"}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def drift(application: web.Application) -> set[tuple[str, str]]:
    """Operations the router serves but the document lacks, and the other way round."""
    doc = build_openapi(application[ROUTES])
    return served(application) ^ documented(doc)


async def match(application: web.Application, method: str, path: str) -> web.Request:
    """A request as the application would see it once routed (as its own handler
    sets the router's answer on the request)."""
    request = make_mocked_request(method, path, app=application)
    info = await application.router.resolve(request)
    info.add_app(application)
    request._match_info = info
    return request


def test_every_served_route_is_documented_and_every_documented_one_served() -> None:
    application = app()
    assert served(application), "the walk found no route"
    assert drift(application) == set()


def test_a_route_served_without_a_declaration_is_drift() -> None:
    application = app()
    application.router.add_post("/v1/federation/undeclared", _nothing)
    assert drift(application) == {("POST", "/v1/federation/undeclared")}


async def test_a_route_served_without_a_declaration_still_needs_a_token() -> None:
    application = app()
    application.router.add_get("/v1/federation/undeclared", _nothing)
    request = await match(application, "GET", "/v1/federation/undeclared")
    assert declared(request) is None
    assert needs_token(request)


@pytest.mark.parametrize(
    ("method", "path", "token"),
    [
        ("GET", "/v1/federation/backends", True),
        ("HEAD", "/v1/federation/backends/fed_x", True),
        ("PUT", "/v1/secrets/a/b/c", True),
        ("GET", "/healthz", False),
        ("HEAD", "/metrics", False),
        ("GET", "/v1/federation/openapi.json", False),
        ("POST", "/v1/federation/notify/aws", False),  # authenticates its caller itself
        ("OPTIONS", "/v1/federation/notify/azure", False),
        ("GET", "/v1/nowhere", False),  # the router's 404
    ],
)
async def test_the_middleware_follows_the_declared_security(
    method: str, path: str, token: bool
) -> None:
    assert needs_token(await match(app(), method, path)) is token


def test_the_document_is_valid_and_every_reference_resolves() -> None:
    doc = build_openapi(app()[ROUTES])
    validate(doc)
    schemas = doc["components"]["schemas"]
    for reference in _refs(doc):
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


def test_only_public_operations_need_no_security() -> None:
    application = app()
    doc = build_openapi(application[ROUTES])
    public = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS and op.get("security") == []
    }
    declared_public = {
        (r.method, r.template) for r in application[ROUTES] if r.security is Security.NONE
    }
    assert (
        public
        == declared_public
        == {
            ("GET", "/healthz"),
            ("GET", "/metrics"),
            ("GET", "/v1/federation/openapi.json"),
        }
    )


def declare(path: str = "/v1/x", **fields: Any) -> Route:
    fields.setdefault("scope", Scope.FEDERATION_READ)
    return Route("GET", path, _nothing, "x", (Answer(200, "x"),), **fields)


def test_a_path_parameter_must_be_declared() -> None:
    with pytest.raises(ValueError, match=r"path parameters \['id'\] but declared \[\]"):
        declare("/v1/x/{id}")
    with pytest.raises(ValueError, match=r"path parameters \[\] but declared \['id'\]"):
        declare(params=(Param("id", "path", {"type": "string"}),))
    route = declare("/v1/x/{id:.+}", params=(Param("id", "path", {}),))
    assert route.template == "/v1/x/{id}"


def test_a_scope_goes_with_an_authenticated_caller() -> None:
    with pytest.raises(ValueError, match="a scope iff"):
        declare(scope=None)
    with pytest.raises(ValueError, match="a scope iff"):
        declare(security=Security.NONE)
    assert declare(scope=None, security=Security.NONE).scope is None


def test_a_template_drops_the_placeholders_pattern() -> None:
    route = next(r for r in app()[ROUTES] if r.path.startswith("/v1/secrets/"))
    assert route.path == "/v1/secrets/{path:.+}"
    assert route.template == "/v1/secrets/{path}"


async def _nothing(request: web.Request) -> web.Response:
    return web.Response()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
