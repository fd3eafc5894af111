"""The OpenAPI 3.1 document of the API, built from the pydantic wire models.

Bodies and responses are the JSON schemas of :mod:`..models.api` (snake_case
field names); this module adds paths, parameters, status codes and security.
Every error is an ``ErrorBody``; ``Retry-After`` is documented where a 503 is.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..models.api import (
    NAMESPACE_PATTERN,
    Backend,
    BackendCreate,
    BackendList,
    BackendPatch,
    ConflictList,
    ErrorBody,
    SecretView,
    SecretWrite,
    StatusView,
    SyncAccepted,
    SyncRequest,
)

PATH = "/v1/federation/openapi.json"
_REF = "#/components/schemas/{model}"
_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (BackendCreate, "validation"),
    (BackendPatch, "validation"),
    (SecretWrite, "validation"),
    (SyncRequest, "validation"),
    (Backend, "serialization"),
    (BackendList, "serialization"),
    (StatusView, "serialization"),
    (ConflictList, "serialization"),
    (SyncAccepted, "serialization"),
    (SecretView, "serialization"),
    (ErrorBody, "serialization"),
]
_ERRORS = {
    400: "Invalid request; `error.field` names the offending field.",
    401: "No bearer token, or not a valid one.",
    403: "The token lacks the scope (or Kubernetes permission) in this namespace.",
    404: "Not found.",
    409: "Conflict with the current state.",
    415: "The body is not JSON.",
    500: "Internal error (no details are given).",
    502: "The proxied backend failed or rejected the API's credentials.",
    503: "Unavailable for now; retry after `Retry-After` seconds.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _op(
    summary: str,
    scope: str | None,
    ok: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    body: type[BaseModel] | None = None,
    body_types: tuple[str, ...] = ("application/json",),
    body_required: bool = True,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(code): value for code, value in ok.items()}
    for code in (*errors, 500):
        error = _json(ErrorBody, _ERRORS[code])
        if code == 503:
            error["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}
            }
        responses[str(code)] = error
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if scope:
        op["description"] = f"Scope: `{scope}`."
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {media: {"schema": _ref(body)} for media in body_types},
        }
    return op


_NAMESPACE = {
    "name": "namespace",
    "in": "query",
    "required": False,
    "description": "Kubernetes namespace (default: the API's default namespace).",
    "schema": {"type": "string", "pattern": NAMESPACE_PATTERN, "maxLength": 63},
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_SECRET_PATH = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "ScaiVault path such as `external/aws/db/password` (may contain `/`).",
    "schema": {"type": "string", "minLength": 1},
}
_NO_CONTENT = {"description": "Done."}
_HEALTH = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["ok", "starting"]}},
            "required": ["status"],
        }
    }
}
_AUTH_ERRORS = (401, 403, 404, 503)


def _paths() -> dict[str, Any]:
    backends = "/v1/federation/backends"
    one = backends + "/{id}"
    read, write = "federation:read", "federation:write"
    return {
        backends: {
            "get": _op(
                "List configured backends (every readable namespace unless `namespace`).",
                read,
                {200: _json(BackendList, "The backends.")},
                (400, 401, 403, 503),
                params=[_NAMESPACE],
            ),
            "post": _op(
                "Configure a backend (creates a FederationBackend).",
                write,
                {201: _json(Backend, "Created.")},
                (400, 401, 403, 404, 409, 415, 503),
                body=BackendCreate,
            ),
        },
        one: {
            "parameters": [_ID],
            "get": _op("One backend.", read, {200: _json(Backend, "The backend.")}, _AUTH_ERRORS),
            "patch": _op(
                "Change a backend (JSON merge patch; `name` and `namespace` are immutable).",
                write,
                {200: _json(Backend, "The updated backend.")},
                (400, 401, 403, 404, 409, 415, 503),
                body=BackendPatch,
                body_types=("application/merge-patch+json", "application/json"),
            ),
            "delete": _op("Remove a backend.", write, {204: _NO_CONTENT}, _AUTH_ERRORS),
        },
        one + "/status": {
            "parameters": [_ID],
            "get": _op(
                "Connection and sync status.",
                read,
                {200: _json(StatusView, "The status.")},
                _AUTH_ERRORS,
            ),
        },
        one + "/sync": {
            "parameters": [_ID],
            "post": _op(
                "Trigger a sync now (sync mode only): of everything, or with `paths` of "
                "those ScaiVault paths or patterns only (nothing else is read, written or "
                "orphaned; the next full sync stays when it was due).",
                write,
                {202: _json(SyncAccepted, "Requested.")},
                (400, 401, 403, 404, 409, 415, 503),
                body=SyncRequest,
                body_required=False,
            ),
        },
        one + "/conflicts": {
            "parameters": [_ID],
            "get": _op(
                "Sync conflicts (same path locally and remotely with different values).",
                read,
                {200: _json(ConflictList, "The conflicts.")},
                _AUTH_ERRORS,
            ),
        },
        "/v1/secrets/{path}": {
            "parameters": [_SECRET_PATH, _NAMESPACE],
            "get": _op(
                "Read a secret: proxy paths from the backend, others from local storage.",
                "secrets:read",
                {200: _json(SecretView, "The secret.")},
                (400, 401, 403, 404, 502, 503),
            ),
            "put": _op(
                "Write a local secret (409 for proxied and synced paths).",
                "secrets:write",
                {
                    200: _json(SecretView, "Replaced."),
                    201: _json(SecretView, "Created."),
                },
                (400, 401, 403, 404, 409, 415, 503),
                body=SecretWrite,
            ),
            "delete": _op(
                "Delete a local secret (409 for proxied and synced paths).",
                "secrets:write",
                {204: _NO_CONTENT},
                (400, 401, 403, 404, 409, 503),
            ),
        },
        PATH: {
            "get": {
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "200 once the backend cache is loaded.",
                "security": [],
                "responses": {
                    "200": {"description": "Ready.", "content": _HEALTH},
                    "503": {"description": "Starting.", "content": _HEALTH},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Metrics in the text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def _version() -> str:
    try:
        return metadata.version("scaivault-federation")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def build_openapi() -> dict[str, Any]:
    _, top = models_json_schema(_MODELS, ref_template=_REF, by_alias=False)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ScaiVault Federation API",
            "version": _version(),
            "description": (
                "Federated secret backends (HashiCorp Vault, AWS Secrets Manager, Azure Key "
                "Vault, Google Secret Manager) over Kubernetes FederationBackend resources, "
                "and secrets by ScaiVault path. Binary secret values are returned base64-"
                "encoded in `data_base64` instead of `data`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "schemas": top["$defs"],
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Kubernetes token (TokenReview + SubjectAccessReview) "
                    "or a static token from the API's token file.",
                }
            },
        },
    }


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
