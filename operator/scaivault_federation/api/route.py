"""A route of the API, declared once: method, path, handler, who may call it, what it
reads and what it answers.

The router (:func:`add_routes`), the authentication middleware (:func:`declared`)
and the OpenAPI document (:mod:`.openapi`) are all derived from these declarations,
so a route cannot be served without being documented, nor documented without being
served. Bodies and answers name the pydantic wire models (:mod:`..models.api`); a
:class:`Schema` stands for a JSON schema written out instead (the providers' own
payloads, the health answer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .errors import Handler
from .static_tokens import Scope

REF = "#/components/schemas/{model}"
JSON = "application/json"
#: a route template's placeholders, with aiohttp's optional ``:regex``
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^{}]*)?\}")


class Security(Enum):
    """How a route's caller is authenticated."""

    #: a bearer token, checked by :func:`.access.auth_middleware` before the handler runs
    BEARER = "bearer"
    #: none: the route is public
    NONE = "none"
    #: by the handler itself, from ``Authorization: Bearer`` or the ``token`` query
    #: parameter (the cloud change receivers: a provider cannot always set a header)
    RECEIVER = "receiver"


@dataclass(frozen=True, eq=False)
class Schema:
    """A JSON schema written out by hand: a named component (referred to by ``$ref``),
    or, without a name, written where it is used; ``uses`` are the components it
    refers to."""

    body: Mapping[str, Any]
    name: str | None = None
    uses: tuple[type[BaseModel] | Schema, ...] = ()


Shape = type[BaseModel] | Schema


def ref(shape: Shape) -> dict[str, Any]:
    """``shape`` where it is used: a ``$ref`` to its component, or an unnamed schema."""
    if isinstance(shape, Schema):
        if shape.name is None:
            return dict(shape.body)
        return {"$ref": REF.format(model=shape.name)}
    return {"$ref": REF.format(model=shape.__name__)}


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter (OpenAPI's parameter object)."""

    name: str
    where: str  # "path", "query" or "header"
    schema: Mapping[str, Any]
    description: str | None = None
    required: bool = False

    def to_openapi(self) -> dict[str, Any]:
        param: dict[str, Any] = {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
        }
        if self.description is not None:
            param["description"] = self.description
        param["schema"] = dict(self.schema)
        return param


@dataclass(frozen=True)
class Header:
    """A header of an answer."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Answer:
    """A successful answer: its status, what it means, and its body (none: no body)."""

    status: int
    description: str
    shape: Shape | None = None
    media: str = JSON
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True)
class Body:
    """A request body: its shape and the media types it may come in."""

    shape: Shape
    media: tuple[str, ...] = (JSON,)
    required: bool = True


@dataclass(frozen=True, eq=False)
class Route:
    """One operation of the API.

    ``path`` is aiohttp's route path (``/v1/secrets/{path:.+}``); every placeholder
    in it is a declared path parameter. ``errors`` are the error statuses the route
    itself answers; a route with a caller to authenticate also answers 401, 429 and
    500. ``scope`` is the static-token scope it needs, and only such a route has one.
    A ``GET`` route answers ``HEAD`` too.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    answers: tuple[Answer, ...]
    scope: Scope | None = None
    errors: tuple[int, ...] = ()
    body: Body | None = None
    params: tuple[Param, ...] = ()
    security: Security = Security.BEARER

    def __post_init__(self) -> None:
        placeholders = set(_PLACEHOLDER.findall(self.path))
        declared = {p.name for p in self.params if p.where == "path"}
        if placeholders != declared:
            raise ValueError(
                f"{self.method} {self.path}: path parameters {sorted(placeholders)} "
                f"but declared {sorted(declared)}"
            )
        if (self.scope is None) != (self.security is Security.NONE):
            raise ValueError(f"{self.method} {self.path}: a scope iff a caller is authenticated")

    @property
    def template(self) -> str:
        """The path as the router's resources and the OpenAPI document name it."""
        return _PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", self.path)


#: the declarations an application was built from
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("scaivault_routes", tuple)


def add_routes(app: web.Application, routes: tuple[Route, ...]) -> None:
    """Serve ``routes`` (the operations of one path next to each other)."""
    app[ROUTES] = routes
    for route in routes:
        resource = app.router.add_resource(route.path)
        if route.method == "GET":
            resource.add_route("HEAD", route.handler)
        resource.add_route(route.method, route.handler)


def declared(request: web.Request) -> Route | None:
    """The declaration of the route ``request`` matched (``HEAD`` counts as ``GET``)."""
    resource = request.match_info.route.resource
    if resource is None or ROUTES not in request.app:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    template = resource.canonical
    return next(
        (r for r in request.app[ROUTES] if r.method == method and r.template == template), None
    )
