"""``/v1/federation/backends``: the seed page's endpoints over FederationBackend CRs,
and over ClusterFederationBackends (``"scope": "cluster"`` on the wire).

Reads come from the watch-backed cache. Writes go to the apiserver (which
applies the CRD's schema and CEL rules on top of the models' validation),
and their answers update the cache at once. A cluster backend is authorized
cluster-wide (SubjectAccessReviews of ``clusterfederationbackends`` without a
namespace); a FederationBackend in its namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..backends.allowlist import EndpointRefusedError, check_endpoints
from ..k8s.backend_store import BackendStore
from ..k8s.client import ConflictError, KubeApiError, NotFoundError
from ..labels import GROUP
from ..models.api import (
    NAMESPACE_PATTERN,
    Backend,
    BackendCreate,
    BackendList,
    BackendPatch,
    BackendScope,
    ConflictList,
    StatusView,
    SyncAccepted,
    SyncRequest,
    apply_patch,
    conflicts_view,
    diff_merge_patch,
    parse_create,
    parse_sync_request,
    status_view,
)
from ..models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND, BackendKind
from ..models.resource import FederationBackendResource
from ..models.spec import BackendSpec, Mode
from .auth import CLUSTER_READ, FEDERATION_READ, Permission, principal_of
from .cache import backend_view
from .delegation import require_delegation
from .errors import ApiError, kube_error, read_json_object, unavailable
from .route import Answer, Body, Param, Route
from .state import ApiState, state_of
from .static_tokens import Scope

BASE = "/v1/federation/backends"
PATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class Rights:
    """The permissions behind each operation, for one kind of backend: the Kubernetes
    verbs on the kind's resource (reviewed in a FederationBackend's namespace, or
    cluster-wide for a cluster-scoped kind)."""

    read: Permission
    create: Permission
    patch: Permission
    delete: Permission
    notify: Permission  # a cloud change event's per-path sync

    @classmethod
    def of(cls, kind: BackendKind) -> Rights:
        def right(scope: Scope, *verbs: str, subresource: str = "") -> Permission:
            return Permission(scope, GROUP, kind.plural, verbs, subresource)

        return cls(
            read=right(Scope.FEDERATION_READ, "get", "list"),
            create=right(Scope.FEDERATION_WRITE, "create"),
            patch=right(Scope.FEDERATION_WRITE, "patch"),
            delete=right(Scope.FEDERATION_WRITE, "delete"),
            notify=right(Scope.FEDERATION_NOTIFY, "update", subresource="notify"),
        )


def ready_state(request: web.Request) -> ApiState:
    """The shared state, once the cache holds a full listing (503 before)."""
    state = state_of(request)
    if not state.cache.synced.is_set():
        raise unavailable("the API is starting; backends are not loaded yet", 1)
    return state


NAMESPACE_SCHEMA = {"type": "string", "pattern": NAMESPACE_PATTERN, "maxLength": 63}
#: the ``namespace`` query parameter :func:`query_namespace` reads
NAMESPACE = Param(
    "namespace",
    "query",
    NAMESPACE_SCHEMA,
    "Kubernetes namespace (default: the API's default namespace).",
)


def query_namespace(request: web.Request) -> str | None:
    namespace = request.query.get("namespace")
    if namespace is not None and (
        len(namespace) > 63 or not re.match(NAMESPACE_PATTERN, namespace)
    ):
        raise ApiError(400, "namespace: must be a Kubernetes namespace name", field="namespace")
    return namespace


def query_scope(request: web.Request) -> BackendScope | None:
    scope = request.query.get("scope")
    if scope is None:
        return None
    found = next((s for s in BackendScope if s.value == scope), None)
    if found is None:
        raise ApiError(400, "scope: must be 'namespace' or 'cluster'", field="scope")
    return found


@dataclass(frozen=True)
class Target:
    """A backend the request names, with where and how it is authorized and written."""

    state: ApiState
    backend: FederationBackendResource
    rights: Rights
    #: the namespace of its reviews and calls ("" for a cluster backend)
    namespace: str
    store: BackendStore

    async def require(self, request: web.Request, permission: Permission) -> None:
        await self.state.auth.require(request, permission, self.namespace)


def target_of(state: ApiState, backend: FederationBackendResource) -> Target:
    """Where ``backend`` is authorized and written: by its kind (the cache holds only
    kinds the API serves)."""
    kind = backend.kind
    return Target(state, backend, Rights.of(kind), backend.namespace, state.stores[kind])


async def _lookup(request: web.Request, operation: str) -> Target:
    """The backend of the path's id, once the caller may do ``operation`` on it."""
    state = ready_state(request)
    cached = state.cache.get(request.match_info["id"])
    if cached is None:
        raise ApiError(404, "no backend with this id")
    target = target_of(state, cached)
    await target.require(request, getattr(target.rights, operation))
    return target


def _check_endpoints(state: ApiState, spec: BackendSpec) -> None:
    """400 naming the field for an endpoint the operator would refuse to connect to."""
    try:
        check_endpoints(spec.config, state.environment.allowed_endpoints)
    except EndpointRefusedError as exc:
        raise ApiError(400, exc.message, field=f"config.{exc.field}") from None
    except ValueError:  # a URL the parser cannot read (a port out of range, not a number)
        raise ApiError(400, "not a valid URL", field="config.endpoint") from None


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def _readable_namespaces(request: web.Request, state: ApiState) -> list[str]:
    principal = principal_of(request)
    if await state.auth.allowed(principal, FEDERATION_READ, ""):
        return sorted(state.cache.namespaces())
    candidates = sorted(state.cache.namespaces() | {state.default_namespace})
    return [ns for ns in candidates if await state.auth.allowed(principal, FEDERATION_READ, ns)]


async def list_backends(request: web.Request) -> web.Response:
    state = ready_state(request)
    namespace = query_namespace(request)
    scope = query_scope(request)
    if namespace is not None and scope is BackendScope.CLUSTER:
        raise ApiError(
            400, "scope: cluster backends have no namespace; drop namespace", field="scope"
        )
    if namespace is not None:
        await state.auth.require(request, FEDERATION_READ, namespace)
        backends = state.cache.backends(namespace)
        return _json({"backends": [backend_view(b) for b in backends]})
    if scope is BackendScope.CLUSTER:
        await state.auth.require(request, CLUSTER_READ, "")
        return _json({"backends": [backend_view(b) for b in state.cache.cluster_backends()]})
    namespaces = await _readable_namespaces(request, state)
    clusters = (
        scope is None
        and state.stores.serves(CLUSTER_FEDERATION_BACKEND)
        and await state.auth.allowed(principal_of(request), CLUSTER_READ, "")
    )
    if not namespaces and not clusters:
        raise ApiError(403, "federation:read is required")
    found = [b for ns in namespaces for b in state.cache.backends(ns)]
    if clusters:
        found += state.cache.cluster_backends()
    return _json({"backends": [backend_view(b) for b in found]})


async def create_backend(request: web.Request) -> web.Response:
    state = ready_state(request)
    body = await read_json_object(request)
    new = parse_create(body)
    _check_endpoints(state, new.spec)
    kind = CLUSTER_FEDERATION_BACKEND if new.cluster else FEDERATION_BACKEND
    if not state.stores.serves(kind):
        raise ApiError(
            400,
            "scope: this API serves no cluster backends (the operator watches only "
            "some namespaces)",
            field="scope",
        )
    store = state.stores[kind]
    namespace = kind.object_namespace(new.namespace or state.default_namespace)
    where = f"in namespace {namespace!r}" if namespace else f"as a {kind.noun}"
    await state.auth.require(request, Rights.of(kind).create, namespace)
    await require_delegation(state, request, new.spec, None, namespace=namespace, kind=kind)
    try:
        created = await store.create(namespace, new.name, new.spec)
    except ConflictError:
        raise ApiError(
            409, f"a backend named {new.name!r} already exists {where}", code="already_exists"
        ) from None
    except NotFoundError:
        raise ApiError(404, f"namespace {namespace!r} not found") from None
    except KubeApiError as exc:
        raise kube_error(exc, "backend") from None
    cached = state.cache.upsert(created)
    response = _json(backend_view(cached), status=201)
    response.headers["Location"] = f"{BASE}/{cached.id}"
    return response


async def get_backend(request: web.Request) -> web.Response:
    target = await _lookup(request, "read")
    return _json(backend_view(target.backend))


async def patch_backend(request: web.Request) -> web.Response:
    target = await _lookup(request, "patch")
    state, cached, store = target.state, target.backend, target.store
    patch = await read_json_object(request)
    for _ in range(PATCH_ATTEMPTS):
        try:
            fresh = await store.get(target.namespace, cached.name)
        except KubeApiError as exc:
            raise kube_error(exc, "backend") from None
        if fresh.uid != cached.uid or fresh.deleting:
            raise ApiError(404, "no backend with this id")
        spec, view = apply_patch(backend_view(fresh), patch)
        _check_endpoints(state, spec)
        await require_delegation(
            state, request, spec, fresh.spec, namespace=target.namespace, kind=fresh.kind
        )
        changes = diff_merge_patch(dict(fresh.raw_spec), spec.to_cr())
        if not changes:
            return _json(view)
        try:
            updated = await store.patch_spec(
                target.namespace, cached.name, changes, fresh.resource_version
            )
        except ConflictError:
            continue
        except KubeApiError as exc:
            raise kube_error(exc, "backend") from None
        return _json(backend_view(state.cache.upsert(updated)))
    raise ApiError(409, "the backend kept changing; try again", code="concurrent_update")


async def delete_backend(request: web.Request) -> web.Response:
    target = await _lookup(request, "delete")
    state, cached = target.state, target.backend
    try:
        remaining = await target.store.delete(target.namespace, cached.name, cached.uid)
    except ConflictError:  # another object of that name: ours is gone
        remaining = None
    except KubeApiError as exc:
        raise kube_error(exc, "backend") from None
    if remaining is not None:
        state.cache.upsert(remaining)
    else:
        state.cache.remove(cached.uid)
    await state.proxy.drop(cached.uid)
    return web.Response(status=204)


async def backend_status(request: web.Request) -> web.Response:
    cached = (await _lookup(request, "read")).backend
    return _json(status_view(cached.id, cached.name, cached.status))


async def backend_conflicts(request: web.Request) -> web.Response:
    cached = (await _lookup(request, "read")).backend
    return _json(conflicts_view(cached.status))


async def trigger_sync(request: web.Request) -> web.Response:
    target = await _lookup(request, "patch")
    cached = target.backend
    spec = cached.spec
    if spec is None:
        raise ApiError(409, "the backend's spec is invalid; fix it first", code="invalid_spec")
    if spec.mode is Mode.PROXY:
        raise ApiError(409, "a proxy-mode backend has nothing to sync", code="proxy_mode")
    if spec.suspend:
        raise ApiError(409, "the backend is suspended", code="suspended")
    body = await read_json_object(request) if request.body_exists else {}
    paths = parse_sync_request(body, cached.local_patterns)
    requests = target.state.sync_requests
    try:
        done = await requests.request(
            target.store, target.namespace, cached.name, paths, known=cached
        )
    except KubeApiError as exc:
        raise kube_error(exc, "backend") from None
    target.state.cache.upsert(done.backend)
    answer: dict[str, Any] = {"id": cached.id, "sync_requested_at": done.stamp}
    if paths is not None:
        answer["paths"] = list(paths.texts)
    return _json(answer, status=202)


_ID = Param("id", "path", {"type": "string"})
_LIST_NAMESPACE = Param(
    "namespace",
    "query",
    NAMESPACE_SCHEMA,
    "Only the FederationBackends of this namespace (no cluster backends).",
)
_SCOPE = Param(
    "scope",
    "query",
    {"type": "string", "enum": [s.value for s in BackendScope]},
    "Only FederationBackends (`namespace`) or only ClusterFederationBackends "
    "(`cluster`); default both (cluster ones if the caller may read them cluster-wide).",
)
#: the errors of an operation on one backend by id, and of one that writes a body
_BY_ID = (403, 404, 503)
_WRITE = (400, 403, 404, 409, 415, 503)
_READ, _CHANGE = Scope.FEDERATION_READ, Scope.FEDERATION_WRITE

ROUTES = (
    Route(
        "GET",
        BASE,
        list_backends,
        "List configured backends: the FederationBackends of every readable "
        "namespace (or of `namespace`), then the ClusterFederationBackends "
        "(`scope: cluster`) if the caller may read them cluster-wide.",
        answers=(Answer(200, "The backends.", BackendList),),
        scope=_READ,
        errors=(400, 403, 503),
        params=(_LIST_NAMESPACE, _SCOPE),
    ),
    Route(
        "POST",
        BASE,
        create_backend,
        "Configure a backend: a FederationBackend, or with `scope: cluster` (or a "
        "`namespace_selector`) and no `namespace` a ClusterFederationBackend.",
        answers=(Answer(201, "Created.", Backend),),
        scope=_CHANGE,
        errors=_WRITE,
        body=Body(BackendCreate),
    ),
    Route(
        "GET",
        BASE + "/{id}",
        get_backend,
        "One backend.",
        answers=(Answer(200, "The backend.", Backend),),
        scope=_READ,
        errors=_BY_ID,
        params=(_ID,),
    ),
    Route(
        "PATCH",
        BASE + "/{id}",
        patch_backend,
        "Change a backend (JSON merge patch; `name`, `namespace` and `scope` are immutable).",
        answers=(Answer(200, "The updated backend.", Backend),),
        scope=_CHANGE,
        errors=_WRITE,
        body=Body(BackendPatch, ("application/merge-patch+json", "application/json")),
        params=(_ID,),
    ),
    Route(
        "DELETE",
        BASE + "/{id}",
        delete_backend,
        "Remove a backend.",
        answers=(Answer(204, "Done."),),
        scope=_CHANGE,
        errors=_BY_ID,
        params=(_ID,),
    ),
    Route(
        "GET",
        BASE + "/{id}/status",
        backend_status,
        "Connection and sync status (a cluster backend's with per-namespace figures).",
        answers=(Answer(200, "The status.", StatusView),),
        scope=_READ,
        errors=_BY_ID,
        params=(_ID,),
    ),
    Route(
        "POST",
        BASE + "/{id}/sync",
        trigger_sync,
        "Trigger a sync now (sync mode only): of everything, or with `paths` of "
        "those ScaiVault paths or patterns only (nothing else is read, written or "
        "orphaned; the next full sync stays when it was due).",
        answers=(Answer(202, "Requested.", SyncAccepted),),
        scope=_CHANGE,
        errors=_WRITE,
        body=Body(SyncRequest, required=False),
        params=(_ID,),
    ),
    Route(
        "GET",
        BASE + "/{id}/conflicts",
        backend_conflicts,
        "Sync conflicts (same path locally and remotely with different values; a "
        "cluster backend's name their namespace).",
        answers=(Answer(200, "The conflicts.", ConflictList),),
        scope=_READ,
        errors=_BY_ID,
        params=(_ID,),
    ),
)
