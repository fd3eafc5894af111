"""``/v1/federation/leases`` and ``/v1/federation/certificates``: a read-only view of the
FederationLeases and FederationCertificates with their expiry and next renewal.

As for backends, a caller sees the namespaces they may read the kind in (a
SubjectAccessReview of ``get`` and ``list`` on it, or a static token's
``federation:read`` there): each one asked for with ``namespace``, else every
namespace the API knows backends in (a lease names a backend of its own
namespace) and its default namespace. The objects are read from the apiserver
on each request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..k8s.client import KubeApiError
from ..labels import GROUP
from ..models.leased import FEDERATION_CERTIFICATE, FEDERATION_LEASE, LeasedKind
from ..models.leased_view import CertificateList, LeaseList, certificate_view, lease_view
from .auth import Permission, principal_of
from .backends import NAMESPACE_SCHEMA, query_namespace, ready_state
from .errors import ApiError, kube_error
from .route import Answer, Param, Route
from .state import ApiState
from .static_tokens import Scope

BASE = "/v1/federation"

View = Callable[[Any], dict[str, Any]]


def read_right(kind: LeasedKind[Any, Any]) -> Permission:
    return Permission(Scope.FEDERATION_READ, GROUP, kind.plural, ("get", "list"))


async def _readable(request: web.Request, state: ApiState, right: Permission) -> list[str]:
    """The namespaces of the listing the caller may read ``right`` in."""
    namespace = query_namespace(request)
    if namespace is not None:
        await state.auth.require(request, right, namespace)
        return [namespace]
    principal = principal_of(request)
    candidates = sorted(state.cache.namespaces() | {state.default_namespace})
    if await state.auth.allowed(principal, right, ""):
        return candidates
    readable = [ns for ns in candidates if await state.auth.allowed(principal, right, ns)]
    if not readable:
        raise ApiError(403, "federation:read is required")
    return readable


def _listing(kind: LeasedKind[Any, Any], key: str, view: View) -> Callable[..., Any]:
    async def handle(request: web.Request) -> web.Response:
        state = ready_state(request)
        found: list[dict[str, Any]] = []
        for namespace in await _readable(request, state, read_right(kind)):
            try:
                found += [view(r) for r in await state.leased.list(kind, namespace)]
            except KubeApiError as exc:
                raise kube_error(exc, kind.kind) from None
        return web.json_response({key: found})

    return handle


_NAMESPACE = Param("namespace", "query", NAMESPACE_SCHEMA, "Only the objects of this namespace.")


def _route(
    kind: LeasedKind[Any, Any], key: str, view: View, answer: type[BaseModel], summary: str
) -> Route:
    """``GET BASE/<key>``: the listing of ``kind``, each object as ``view`` shows it."""
    return Route(
        "GET",
        f"{BASE}/{key}",
        _listing(kind, key, view),
        summary,
        answers=(Answer(200, f"The {key}.", answer),),
        scope=Scope.FEDERATION_READ,
        errors=(400, 403, 503),
        params=(_NAMESPACE,),
    )


ROUTES = (
    _route(
        FEDERATION_LEASE,
        "leases",
        lease_view,
        LeaseList,
        "List FederationLeases (dynamic credentials) with their expiry and next renewal: "
        "those of `namespace`, or of every namespace the caller may read them in.",
    ),
    _route(
        FEDERATION_CERTIFICATE,
        "certificates",
        certificate_view,
        CertificateList,
        "List FederationCertificates (certificates from a PKI engine) with their expiry "
        "(notAfter) and next re-issue: those of `namespace`, or of every namespace the "
        "caller may read them in.",
    ),
)
