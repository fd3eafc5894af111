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
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ..backends.changes import ChangeReceiver
from ..backends.registry import TYPES, receivers
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
from ..models.notify import NotifyResult

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
    (NotifyResult, "serialization"),
    (ErrorBody, "serialization"),
]
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
    throttled = (429,) if 401 in errors else ()  # the failed authentications of a client
    for code in (*errors, *throttled, 500):
        error = _json(ErrorBody, _ERRORS[code])
        if code in (429, 503):
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
_LIST_NAMESPACE = {
    **_NAMESPACE,
    "description": "Only the FederationBackends of this namespace (no cluster backends).",
}
_SCOPE = {
    "name": "scope",
    "in": "query",
    "required": False,
    "description": "Only FederationBackends (`namespace`) or only ClusterFederationBackends "
    "(`cluster`); default both (cluster ones if the caller may read them cluster-wide).",
    "schema": {"type": "string", "enum": ["namespace", "cluster"]},
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_SECRET_PATH = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "ScaiVault path such as `external/payments/db/password` (may contain `/`).",
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
_NOTIFY_ERRORS = (400, 401, 403, 415, 503)
_NOTIFY_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"queryToken": []}]
_NOTIFY_SCOPE = "federation:notify"
_TEXT = {"type": "string"}


@cache
def _receiver_schemas() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Each receiver's body and 200 answer (by receiver path), and the components they
    name: the payload models its parser reads, as they are."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
        (receiver.path, "validation", TypeAdapter(receiver.body)) for receiver in receivers()
    ]
    answers = [r.validation_answer for r in receivers() if r.validation_answer is not None]
    inputs += [(a.__name__, "serialization", TypeAdapter(a)) for a in answers]
    schemas, defs = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    components: dict[str, Any] = defs.get("$defs", {})
    bodies, replies = {}, {}
    for receiver in receivers():
        bodies[receiver.path] = schemas[(receiver.path, "validation")]
        replies[receiver.path] = _ref(NotifyResult)
        if receiver.validation_answer is not None:
            name = f"{receiver.validation_answer.__name__}OrResult"
            answer = {"$ref": _REF.format(model=receiver.validation_answer.__name__)}
            components[name] = {"anyOf": [_ref(NotifyResult), answer]}
            replies[receiver.path] = {"$ref": _REF.format(model=name)}
    return bodies, replies, components


def _notify(summary: str, body: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any]:
    op = _op(
        summary,
        _NOTIFY_SCOPE,
        {200: _json(NotifyResult, "What became of each event.")},
        _NOTIFY_ERRORS,
    )
    op["security"] = _NOTIFY_SECURITY
    op["requestBody"] = {"required": True, "content": {t: {"schema": body} for t in types}}
    return op


def _paths() -> dict[str, Any]:
    backends = "/v1/federation/backends"
    one = backends + "/{id}"
    read, write = "federation:read", "federation:write"
    return {
        **_receiver_paths(),
        backends: {
            "get": _op(
                "List configured backends: the FederationBackends of every readable "
                "namespace (or of `namespace`), then the ClusterFederationBackends "
                "(`scope: cluster`) if the caller may read them cluster-wide.",
                read,
                {200: _json(BackendList, "The backends.")},
                (400, 401, 403, 503),
                params=[_LIST_NAMESPACE, _SCOPE],
            ),
            "post": _op(
                "Configure a backend: a FederationBackend, or with `scope: cluster` (or a "
                "`namespace_selector`) and no `namespace` a ClusterFederationBackend.",
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
                "Change a backend (JSON merge patch; `name`, `namespace` and `scope` are "
                "immutable).",
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
                "Connection and sync status (a cluster backend's with per-namespace figures).",
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
                "Sync conflicts (same path locally and remotely with different values; a "
                "cluster backend's name their namespace).",
                read,
                {200: _json(ConflictList, "The conflicts.")},
                _AUTH_ERRORS,
            ),
        },
        "/v1/secrets/{path}": {
            "parameters": [_SECRET_PATH, _NAMESPACE],
            "get": _op(
                "Read a secret: proxy paths from the backend, others from local storage. "
                "The namespace's FederationBackends and the cluster backends selecting it "
                "claim paths.",
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


def _receiver_paths() -> dict[str, Any]:
    """``/v1/federation/notify/<receiver>`` of each backend type that has one."""
    bodies, answers, _ = _receiver_schemas()
    paths: dict[str, Any] = {}
    for receiver in receivers():
        operations = {"post": _receive(receiver, bodies[receiver.path], answers[receiver.path])}
        if receiver.webhook_handshake:
            operations["options"] = _webhook_options()
        paths[f"/v1/federation/notify/{receiver.path}"] = operations
    return paths


def _receive(receiver: ChangeReceiver, body: dict[str, Any], answer: Any) -> dict[str, Any]:
    op = _notify(receiver.summary, body, receiver.content_types)
    if receiver.validation_answer is not None:
        op["responses"]["200"] = {
            "description": "What became of each event, or the validation handshake's answer.",
            "content": {"application/json": {"schema": answer}},
        }
    return op


def _webhook_options() -> dict[str, Any]:
    op = _op(
        "The CloudEvents webhook validation handshake.",
        _NOTIFY_SCOPE,
        {
            200: {
                "description": "The origin is allowed.",
                "headers": {
                    "WebHook-Allowed-Origin": {"schema": _TEXT, "description": "The origin."},
                    "WebHook-Allowed-Rate": {"schema": _TEXT, "description": "`*`."},
                },
            }
        },
        (400, 401, 403, 503),
        params=[
            {
                "name": "WebHook-Request-Origin",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
            }
        ],
    )
    op["security"] = _NOTIFY_SECURITY
    return op


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
                f"Federated secret backends ({', '.join(t.title for t in TYPES)}) "
                "over Kubernetes FederationBackend and "
                "ClusterFederationBackend resources, and secrets by ScaiVault path. Binary "
                "secret values are returned base64-encoded in `data_base64` instead of "
                "`data`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "schemas": {**top["$defs"], **_receiver_schemas()[2]},
            "securitySchemes": {
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
            },
        },
    }


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
