"""``/v1/secrets/{path}``: a secret by ScaiVault path.

Which backend a path belongs to is decided by the pathMapping patterns of the
FederationBackends in the namespace (``?namespace=``, else the API's default
namespace) and of the ClusterFederationBackends whose namespaceSelector selects
it (``{namespace}`` in their mapping made concrete). Reads of a proxy path go to
that backend in real time; reads of a sync path, and of a path no backend
claims, come from the path's local Secret, the one named
``secret_name_for_path(path)`` (or, when a name template named it, the name
the backend's status records) whose path annotation holds exactly that path.
No template is rendered on a request.
Writes only ever touch local paths: a proxied or a synced path answers 409, as
does a Secret the operator manages or one that holds another path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ..errors import FederationError
from ..k8s.client import ConflictError, KubeApiError, NotFoundError
from ..models.api import FieldError, SecretSource, SecretView, SecretWrite, field_error
from ..models.content import InvalidContentError, to_secret_data, validate_secret_data
from ..models.resource import FederationBackendResource
from ..models.secret import LocalSecret
from ..models.spec import Mode
from ..paths import InvalidPathError, PathMapping, secret_name_for_path, validate_path
from .auth import SECRETS_DELETE, SECRETS_READ, SECRETS_WRITE
from .backends import NAMESPACE, query_namespace, ready_state
from .errors import ApiError, from_failure, kube_error, read_json_object, unavailable
from .route import Answer, Body, Param, Route
from .state import ApiState
from .static_tokens import Scope

BASE = "/v1/secrets"
SUSPENDED_RETRY_AFTER = 60


def _path(request: web.Request) -> str:
    path = request.match_info["path"]
    try:
        return validate_path(path)
    except InvalidPathError as exc:
        raise ApiError(400, f"path: {exc}", field="path") from None


def _view(
    path: str, data: Mapping[str, bytes], source: SecretSource, backend: str | None
) -> dict[str, Any]:
    text: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, value in data.items():
        try:
            text[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(value).decode()
    view: dict[str, Any] = {"path": path, "data": text}
    if binary:
        view["data_base64"] = binary
    view.update({"source": source.value, "backend_id": backend})
    return view


async def _prepare(request: web.Request) -> tuple[ApiState, str, str]:
    state = ready_state(request)
    path = _path(request)
    namespace = query_namespace(request) or state.default_namespace
    return state, path, namespace


def _name_of(
    namespace: str, path: str, owner: tuple[FederationBackendResource, PathMapping, str] | None
) -> str:
    """The Secret name of ``path``: the one its backend's status records (a name template
    gave it), else the one the path gives. No template is rendered here."""
    if owner is None:
        return secret_name_for_path(path)
    backend = owner[0]
    recorded = backend.status.recorded_name(path, backend.kind.status_namespace(namespace))
    return recorded or secret_name_for_path(path)


async def _local(
    state: ApiState,
    namespace: str,
    path: str,
    owner: tuple[FederationBackendResource, PathMapping, str] | None = None,
) -> tuple[str, LocalSecret | None]:
    name = _name_of(namespace, path, owner)
    try:
        return name, await state.store.get(namespace, name)
    except KubeApiError as exc:
        raise kube_error(exc, "secret") from None


def _refuse_owned(owner: tuple[FederationBackendResource, Any, str] | None) -> None:
    if owner is None:
        return
    backend = owner[0]
    assert backend.spec is not None
    mode = backend.spec.mode
    raise ApiError(
        409,
        f"the path belongs to {mode.value}-mode {backend.kind.noun} {backend.name!r} "
        f"({backend.id}); "
        "the backend is the source of truth",
        code="proxied_path" if mode is Mode.PROXY else "synced_path",
    )


async def get_secret(request: web.Request) -> web.Response:
    state, path, namespace = await _prepare(request)
    await state.auth.require(request, SECRETS_READ, namespace)
    owner = state.cache.owner_of(namespace, path)
    if owner is not None and owner[0].spec is not None and owner[0].spec.mode is Mode.PROXY:
        data = await _proxy_read(state, owner[0], owner[2])
        return web.json_response(_view(path, data, SecretSource.PROXY, owner[0].id))
    _, local = await _local(state, namespace, path, owner)
    if local is None or local.path != path:
        what = "has not been synced yet" if owner is not None else "does not exist"
        raise ApiError(404, f"the secret at this path {what}")
    managing = state.cache.managing(namespace, local.managed_by) if local.managed_by else None
    if managing is not None:
        return web.json_response(_view(path, local.data, SecretSource.SYNC, managing.id))
    return web.json_response(_view(path, local.data, SecretSource.LOCAL, None))


async def _proxy_read(
    state: ApiState, backend: FederationBackendResource, remote: str
) -> dict[str, bytes]:
    assert backend.spec is not None
    if backend.spec.suspend:
        raise unavailable("the backend is suspended", SUSPENDED_RETRY_AFTER, "backend_suspended")
    try:
        secret = await state.proxy.read(backend, remote)
        return to_secret_data(secret.value)
    except KubeApiError as exc:
        raise kube_error(exc, "credentials secret") from None
    except FederationError as exc:
        raise from_failure(exc) from None


def _write_data(body: dict[str, Any]) -> dict[str, bytes]:
    try:
        parsed = SecretWrite.model_validate(body)
    except ValidationError as exc:
        raise field_error(exc) from None
    data: dict[str, bytes] = {}
    for key, value in parsed.data.items():
        try:
            data[key] = value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError(f"data.{key}", "data: values must be valid Unicode text") from None
    for key, encoded in (parsed.data_base64 or {}).items():
        if key in data:
            raise FieldError(f"data_base64.{key}", f"data_base64: key {key!r} is also in data")
        try:
            data[key] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise FieldError("data_base64", f"data_base64: {key!r} is not base64") from None
    try:
        validate_secret_data(data)
    except InvalidContentError as exc:
        raise FieldError("data", f"data: {exc}") from None
    return data


def _check_writable(local: LocalSecret, path: str) -> None:
    if local.managed_by is not None:
        raise ApiError(
            409,
            f"the Secret for this path is managed by backend {local.managed_by!r}",
            code="managed_secret",
        )
    if local.path != path:
        raise ApiError(
            409,
            f"Secret {local.name!r} holds a different path",
            code="path_collision",
        )


async def put_secret(request: web.Request) -> web.Response:
    state, path, namespace = await _prepare(request)
    body = await read_json_object(request)
    data = _write_data(body)
    await state.auth.require(request, SECRETS_WRITE, namespace)
    _refuse_owned(state.cache.owner_of(namespace, path))
    name, existing = await _local(state, namespace, path)
    if existing is not None:
        _check_writable(existing, path)
    try:
        await state.store.put_local(namespace, name, path=path, data=data, existing=existing)
    except ConflictError:
        raise ApiError(
            409, "the secret was changed concurrently; try again", code="concurrent_update"
        ) from None
    except NotFoundError:
        raise ApiError(404, f"namespace {namespace!r} not found") from None
    except KubeApiError as exc:
        raise kube_error(exc, "secret") from None
    status = 201 if existing is None else 200
    return web.json_response(_view(path, data, SecretSource.LOCAL, None), status=status)


async def delete_secret(request: web.Request) -> web.Response:
    state, path, namespace = await _prepare(request)
    await state.auth.require(request, SECRETS_DELETE, namespace)
    _refuse_owned(state.cache.owner_of(namespace, path))
    name, existing = await _local(state, namespace, path)
    if existing is None:
        raise ApiError(404, "the secret at this path does not exist")
    _check_writable(existing, path)
    try:
        await state.store.delete(namespace, name, existing.resource_version)
    except ConflictError:
        raise ApiError(
            409, "the secret was changed concurrently; try again", code="concurrent_update"
        ) from None
    except KubeApiError as exc:
        raise kube_error(exc, "secret") from None
    return web.Response(status=204)


_PATH = Param(
    "path",
    "path",
    {"type": "string", "minLength": 1},
    "ScaiVault path such as `external/payments/db/password` (may contain `/`).",
)
_WHERE = (_PATH, NAMESPACE)

ROUTES = (
    Route(
        "GET",
        BASE + "/{path:.+}",
        get_secret,
        "Read a secret: proxy paths from the backend, others from local storage. "
        "The namespace's FederationBackends and the cluster backends selecting it "
        "claim paths.",
        answers=(Answer(200, "The secret.", SecretView),),
        scope=Scope.SECRETS_READ,
        errors=(400, 403, 404, 502, 503),
        params=_WHERE,
    ),
    Route(
        "PUT",
        BASE + "/{path:.+}",
        put_secret,
        "Write a local secret (409 for proxied and synced paths).",
        answers=(Answer(200, "Replaced.", SecretView), Answer(201, "Created.", SecretView)),
        scope=Scope.SECRETS_WRITE,
        errors=(400, 403, 404, 409, 415, 503),
        body=Body(SecretWrite),
        params=_WHERE,
    ),
    Route(
        "DELETE",
        BASE + "/{path:.+}",
        delete_secret,
        "Delete a local secret (409 for proxied and synced paths).",
        answers=(Answer(204, "Done."),),
        scope=Scope.SECRETS_WRITE,
        errors=(400, 403, 404, 409, 503),
        params=_WHERE,
    ),
)
