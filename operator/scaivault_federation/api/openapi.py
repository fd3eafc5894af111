"""The OpenAPI 3.1 document of the API, derived from its route declarations.

Each :class:`.route.Route` gives an operation: its summary, scope, parameters,
body and answers; bodies and answers are the JSON schemas of the pydantic wire
models (:mod:`..models.api`, snake_case field names; a body in validation mode,
an answer in serialization mode) or of a hand-written :class:`.route.Schema`.
Every error is an ``ErrorBody``; ``Retry-After`` is documented where a 503 or
429 is. Parameters that every operation of a path shares are the path's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..backends.registry import TYPES
from ..models.api import ErrorBody
from .route import REF, ROUTES, Answer, Param, Route, Schema, Security, Shape, ref

PATH = "/v1/federation/openapi.json"
_ERRORS = {
    400: "Invalid request; `error.field` names the offending field.",
    401: "No bearer token, or not a valid one.",
    403: "The token lacks the scope (or Kubernetes permission) in this namespace, or "
    "cluster-wide for a cluster backend; or, creating or changing a backend, the right to "
    "use by hand what it names (`error.field`: a credentials Secret, a ServiceAccount, "
    "`conflict_policy: overwrite`).",
    404: "Not found.",
    409: "Conflict with the current state.",
    415: "The body is not JSON.",
    429: "Too many requests from this client with a token that was not valid; retry "
    "after `Retry-After` seconds.",
    500: "Internal error (no details are given).",
    502: "The proxied backend failed or rejected the API's credentials.",
    503: "Unavailable for now; retry after `Retry-After` seconds.",
}
#: what every route with a caller to authenticate may answer besides its own errors
_AUTHENTICATED_ERRORS = (401, 429, 500)
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
#: an operation's own security requirement, where it is not the document's bearer token
_SECURITY: dict[Security, list[dict[str, list[str]]]] = {
    Security.NONE: [],
    Security.RECEIVER: [{"bearerAuth": []}, {"queryToken": []}],
}
_SECURITY_SCHEMES = {
    "queryToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "The receivers only: the bearer token in the `token` "
        "query parameter, for providers that cannot set a header.",
    },
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A Kubernetes token (TokenReview + SubjectAccessReview) "
        "or a static token from the API's token file.",
    },
}
_DESCRIPTION = (
    f"Federated secret backends ({', '.join(t.title for t in TYPES)}) over Kubernetes "
    "FederationBackend and "
    "ClusterFederationBackend resources, and secrets by ScaiVault path. Binary "
    "secret values are returned base64-encoded in `data_base64` instead of "
    "`data`."
)


class _Components:
    """The schemas the operations refer to, collected as they are used."""

    def __init__(self) -> None:
        self.models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
        self.written: dict[str, Mapping[str, Any]] = {}

    def use(self, shape: Shape, mode: JsonSchemaMode) -> dict[str, Any]:
        """``shape`` where it is used, its components (and theirs) collected."""
        if isinstance(shape, Schema):
            if shape.name is not None:
                self.written[shape.name] = shape.body
            for used in shape.uses:
                self.use(used, mode)
        else:
            self.models[(shape, mode)] = None
        return ref(shape)

    def schemas(self) -> dict[str, Any]:
        _, top = models_json_schema(list(self.models), ref_template=REF, by_alias=False)
        return {**top.get("$defs", {}), **self.written}


def _answer(answer: Answer, components: _Components) -> dict[str, Any]:
    described: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        described["headers"] = {
            h.name: {"schema": dict(h.schema), "description": h.description} for h in answer.headers
        }
    if answer.shape is not None:
        schema = components.use(answer.shape, "serialization")
        described["content"] = {answer.media: {"schema": schema}}
    return described


def _errors(route: Route) -> tuple[int, ...]:
    authenticated = route.security is not Security.NONE
    return (*route.errors, *(_AUTHENTICATED_ERRORS if authenticated else ()))


def _operation(route: Route, path_params: list[Param], components: _Components) -> dict[str, Any]:
    responses = {str(a.status): _answer(a, components) for a in route.answers}
    for code in _errors(route):
        error = _answer(Answer(code, _ERRORS[code], ErrorBody), components)
        if code in (429, 503):
            error["headers"] = _RETRY_AFTER
        responses[str(code)] = error
    op: dict[str, Any] = {"summary": route.summary, "responses": responses}
    if route.scope is not None:
        op["description"] = f"Scope: `{route.scope.value}`."
    if route.security in _SECURITY:
        op["security"] = _SECURITY[route.security]
    params = [p.to_openapi() for p in route.params if p not in path_params]
    if params:
        op["parameters"] = params
    if route.body is not None:
        schema = components.use(route.body.shape, "validation")
        op["requestBody"] = {
            "required": route.body.required,
            "content": {media: {"schema": schema} for media in route.body.media},
        }
    return op


def _paths(routes: tuple[Route, ...], components: _Components) -> dict[str, Any]:
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        by_path.setdefault(route.template, []).append(route)
    paths: dict[str, Any] = {}
    for template, operations in by_path.items():
        shared = [p for p in operations[0].params if all(p in o.params for o in operations)]
        item: dict[str, Any] = {"parameters": [p.to_openapi() for p in shared]} if shared else {}
        for route in operations:
            item[route.method.lower()] = _operation(route, shared, components)
        paths[template] = item
    return paths


def _version() -> str:
    try:
        return metadata.version("scaivault-federation")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def build_openapi(routes: tuple[Route, ...]) -> dict[str, Any]:
    """The document of an application serving ``routes``."""
    components = _Components()
    paths = _paths(routes, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ScaiVault Federation API",
            "version": _version(),
            "description": _DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {"schemas": components.schemas(), "securitySchemes": _SECURITY_SCHEMES},
    }


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[ROUTES]))


ROUTE = Route(
    "GET",
    PATH,
    openapi_document,
    "This document.",
    answers=(Answer(200, "OpenAPI 3.1", Schema({"type": "object"})),),
    security=Security.NONE,
)
