"""``/v1/federation/notify/<receiver>``: the providers' change deliveries, one receiver
per backend type whose store sends them (its package's ``ChangeReceiver``, which
also gives the route's declaration: its body's models and its answers).

Every receiver needs ``federation:notify``: a static token with that scope, or a
Kubernetes token allowed to ``update`` ``federationbackends/notify`` (a
subresource name that exists only in RBAC rules) in some namespace, or
``clusterfederationbackends/notify`` cluster-wide; a receiver whose provider
signs its own tokens (a Pub/Sub push subscription) also takes those when the
API is configured for them. The token
comes in ``Authorization: Bearer``, or, for providers that cannot set a
header, in the ``token`` query parameter. A token without the scope gets 403
before its body is read.

Each changed secret is routed to the backends that map it (:mod:`.routing`) and
those get a per-path sync through the same annotations as ``POST .../sync``,
in the namespaces the caller may notify; ClusterFederationBackends too, when
the caller may notify them (``clusterfederationbackends/notify``, reviewed with
no namespace), and those sync the paths in each namespace they select. Events
are acknowledged (200) when they ask for nothing: another kind of event, a
failed call, a secret nothing maps, an id seen in the last minutes (so a
redelivery syncs nothing twice). A body that is not the provider's shape is a
400 naming the field; a 503 (the API is starting, Kubernetes is busy) makes
the provider retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, get_args

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from ...backends.changes import (
    ChangeReceiver,
    Ignored,
    KeysUnavailableError,
    Parsed,
    SecretChange,
    TokenRejectedError,
    Validation,
)
from ...backends.registry import receivers
from ...k8s.client import KubeApiError, NotFoundError
from ...models.api import BackendScope
from ...models.kind import CLUSTER_FEDERATION_BACKEND
from ...models.notify import (
    EventOutcome,
    NotifiedBackend,
    NotifiedEvent,
    NotifyResult,
)
from ...paths import InvalidPathError, PathScope
from ..auth import CLUSTER_NOTIFY, FEDERATION_NOTIFY, PRINCIPAL, Principal
from ..backends import ready_state, target_of
from ..errors import ApiError, kube_error, unavailable
from ..route import REF, Answer, Body, Header, Param, Route, Schema, Security, Shape, ref
from ..state import ApiState
from ..static_tokens import Scope, StaticToken, token_digest
from .routing import MappingClaim, Target, route

log = logging.getLogger(__name__)

BASE = "/v1/federation/notify"
BODY_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)


def _forbidden() -> ApiError:
    return ApiError(403, f"{Scope.FEDERATION_NOTIFY.value} is required")


async def _read_body(request: web.Request) -> Any:
    if request.content_type not in BODY_TYPES:
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)")
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None


async def _token_principal(
    state: ApiState, request: web.Request, receiver: ChangeReceiver
) -> Principal | None:
    """The provider's identity in the request's bearer token, if it is one of the
    provider's own tokens (a Pub/Sub push token) and the receiver takes them."""
    verifier = state.notifications.verifiers.get(receiver.path)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if verifier is None or scheme.lower() != "bearer" or not verifier.claims_to_be_ours(token):
        return None
    try:
        account = await verifier.verify(token)
    except TokenRejectedError as exc:
        raise ApiError(
            401,
            f"{verifier.what} is not accepted: {exc}",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    except KeysUnavailableError:
        raise unavailable(f"cannot verify {verifier.what} right now", 5) from None
    digest = token_digest(token)
    name = f"{verifier.principal}:{account}"
    grant = StaticToken(name, digest, frozenset({Scope.FEDERATION_NOTIFY}), None)
    principal = Principal(name, digest, static=grant)
    request[PRINCIPAL] = principal
    return principal


async def _caller(
    state: ApiState, request: web.Request, receiver: ChangeReceiver | None = None
) -> Principal:
    """The authenticated caller, if it may notify at all (401/403 otherwise)."""
    principal = await _token_principal(state, request, receiver) if receiver else None
    if principal is None:
        query_token = request.query.get("token")
        if "Authorization" not in request.headers and query_token:
            principal = await state.auth.authenticate_token(request, query_token)
        else:
            principal = await state.auth.authenticate(request)
    if principal.static is not None:
        if Scope.FEDERATION_NOTIFY not in principal.static.scopes:
            raise _forbidden()
        return principal
    if await state.auth.allowed(principal, FEDERATION_NOTIFY, ""):
        return principal
    if state.stores.serves(CLUSTER_FEDERATION_BACKEND) and await state.auth.allowed(
        principal, CLUSTER_NOTIFY, ""
    ):
        return principal
    candidates = sorted(state.cache.namespaces() | {state.default_namespace})
    for namespace in candidates:
        if await state.auth.allowed(principal, FEDERATION_NOTIFY, namespace):
            return principal
    raise _forbidden()


async def _trigger(state: ApiState, target: Target) -> NotifiedBackend | None:
    backend = target.backend
    where = target_of(state, backend)
    try:
        paths: PathScope | None = PathScope(target.paths)
    except InvalidPathError:  # more paths than a per-path sync takes: a full sync
        paths = None
    try:
        done = await state.sync_requests.request(
            where.store, where.namespace, backend.name, paths, known=backend
        )
    except NotFoundError:  # deleted meanwhile
        return None
    except KubeApiError as exc:
        raise kube_error(exc, "backend") from None
    state.cache.upsert(done.backend)
    return NotifiedBackend(
        id=backend.id,
        name=backend.name,
        namespace=where.namespace or None,
        scope=BackendScope(backend.kind.scope),
        paths=target.paths,
        sync_requested_at=done.stamp,
    )


async def _may_notify(state: ApiState, principal: Principal, target: Target) -> bool:
    """Whether ``principal`` may have ``target`` synced: ``federationbackends/notify`` in
    its namespace, or ``clusterfederationbackends/notify`` with none for a cluster one."""
    where = target_of(state, target.backend)
    return await state.auth.allowed(principal, where.rights.notify, where.namespace)


async def _deliver(
    state: ApiState, principal: Principal, receiver: ChangeReceiver, parsed: list[Parsed]
) -> NotifyResult:
    """Route and trigger the changes of one delivery; say what became of each event."""
    events: list[NotifiedEvent] = []
    claimed: list[str] = []
    notifications = state.notifications
    merged: dict[str, Target] = {}
    backends = state.cache.backends()
    clusters = [MappingClaim(b, m) for b, m in state.cache.cluster_mappings()]
    try:
        for item in parsed:
            if isinstance(item, Ignored):
                events.append(
                    NotifiedEvent(
                        id=item.event_id, outcome=EventOutcome.IGNORED, reason=item.reason
                    )
                )
                continue
            assert isinstance(item, SecretChange)
            key = f"{receiver.path}:{item.event_id}"
            if not notifications.claim(key):
                events.append(
                    NotifiedEvent(
                        id=item.event_id,
                        outcome=EventOutcome.DUPLICATE,
                        reason="this event was handled a short while ago",
                    )
                )
                continue
            claimed.append(key)
            targets = route([item], backends, clusters)
            permitted = [t for t in targets if await _may_notify(state, principal, t)]
            if not permitted:
                reason = (
                    "the secret maps only to backends in namespaces this caller may not notify"
                    if targets
                    else "no sync-mode backend maps this secret"
                )
                events.append(
                    NotifiedEvent(id=item.event_id, outcome=EventOutcome.UNMAPPED, reason=reason)
                )
                continue
            for target in permitted:
                into = merged.setdefault(target.backend.uid, Target(target.backend, []))
                into.paths.extend(p for p in target.paths if p not in into.paths)
            events.append(NotifiedEvent(id=item.event_id, outcome=EventOutcome.SYNC_REQUESTED))
        synced = []
        ordered = sorted(
            merged.values(),
            key=lambda t: (not t.backend.kind.namespaced, t.backend.namespace, t.backend.name),
        )
        for target in ordered:
            done = await _trigger(state, target)
            if done is not None:
                synced.append(done)
    except BaseException:
        for key in claimed:
            notifications.release(key)
        raise
    for key in claimed:
        notifications.done(key)
    for backend in synced:
        log.info(
            "%s change: sync of %d path(s) of %s requested",
            receiver.path,
            len(backend.paths),
            f"{backend.namespace}/{backend.name}" if backend.namespace else backend.name,
        )
    return NotifyResult(events=events, synced=synced)


def _receiver(receiver: ChangeReceiver) -> Callable[[web.Request], Any]:
    async def receive(request: web.Request) -> web.Response:
        state = ready_state(request)
        principal = await _caller(state, request, receiver)
        parsed = receiver.parse(await _read_body(request))
        validation = next((p for p in parsed if isinstance(p, Validation)), None)
        if validation is not None:
            log.info("%s subscription validation answered", receiver.path)
            return web.json_response(validation.answer.model_dump())
        result = await _deliver(state, principal, receiver, parsed)
        return web.json_response(result.model_dump(mode="json"))

    return receive


async def webhook_options(request: web.Request) -> web.Response:
    """The CloudEvents webhook validation handshake (an ``OPTIONS`` request)."""
    state = ready_state(request)
    await _caller(state, request)
    origin = request.headers.get("WebHook-Request-Origin")
    if not origin:
        raise ApiError(
            400,
            "WebHook-Request-Origin: the CloudEvents validation handshake names an origin",
            field="WebHook-Request-Origin",
        )
    return web.Response(
        status=200,
        headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST"},
    )


_ORIGIN = Param(
    "WebHook-Request-Origin", "header", {"type": "string", "minLength": 1}, required=True
)
_RESULT = Answer(200, "What became of each event.", NotifyResult)


def _models(kind: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models a type expression (a model, a union, a list of them) names."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        yield kind
        return
    for arg in get_args(kind):
        yield from _models(arg)


def _shape(kind: Any) -> Shape:
    """A receiver's body as the OpenAPI document shows it: its payload model, or the
    schema of its union of them, naming the models it uses."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind
    schema = TypeAdapter(kind).json_schema(ref_template=REF, mode="validation")
    schema.pop("$defs", None)
    return Schema(schema, uses=tuple(dict.fromkeys(_models(kind))))


def _answer(receiver: ChangeReceiver) -> Answer:
    answer = receiver.validation_answer
    if answer is None:
        return _RESULT
    either = Schema(
        {"anyOf": [ref(NotifyResult), ref(answer)]},
        name=f"{answer.__name__}OrResult",
        uses=(NotifyResult, answer),
    )
    return Answer(200, "What became of each event, or the validation handshake's answer.", either)


def _routes(receiver: ChangeReceiver) -> Iterator[Route]:
    """The routes of one receiver: its deliveries, and the webhook handshake if it has one."""
    path = f"{BASE}/{receiver.path}"
    yield Route(
        "POST",
        path,
        _receiver(receiver),
        receiver.summary,
        answers=(_answer(receiver),),
        scope=Scope.FEDERATION_NOTIFY,
        errors=(400, 403, 415, 503),
        body=Body(_shape(receiver.body), receiver.content_types),
        security=Security.RECEIVER,
    )
    if receiver.webhook_handshake:
        yield Route(
            "OPTIONS",
            path,
            webhook_options,
            "The CloudEvents webhook validation handshake.",
            answers=(
                Answer(
                    200,
                    "The origin is allowed.",
                    headers=(
                        Header("WebHook-Allowed-Origin", "The origin."),
                        Header("WebHook-Allowed-Rate", "`*`."),
                    ),
                ),
            ),
            scope=Scope.FEDERATION_NOTIFY,
            errors=(400, 403, 503),
            params=(_ORIGIN,),
            security=Security.RECEIVER,
        )


ROUTES = tuple(r for receiver in receivers() for r in _routes(receiver))
