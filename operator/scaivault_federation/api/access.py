"""Which requests need a bearer token, and the one middleware that checks it.

Every route needs a valid token except the few in :data:`PUBLIC_ROUTES`, so a
new route is protected without doing anything. The middleware authenticates
the caller before the handler runs and stores the :class:`.auth.Principal` on
the request; handlers only decide what that caller may do
(``state.auth.require(request, ...)`` or ``state.auth.allowed(principal_of(request), ...)``).

A request that matches no route (404) or uses a method the path does not
serve (405) is answered by the router without a token: nothing is served, and
the route table is public in the OpenAPI document anyway. A request to a real
route without a valid token is always a 401, before any other check (such as
the 503 a route answers while the backend cache is still loading).
"""

from __future__ import annotations

from aiohttp import web

from .auth import PRINCIPAL
from .errors import Handler
from .observability import HEALTHZ_PATH, METRICS_PATH
from .openapi import PATH as OPENAPI_PATH
from .state import STATE

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", HEALTHZ_PATH),
        ("GET", METRICS_PATH),
        ("GET", OPENAPI_PATH),
    }
)
"""(method, route template) pairs served without a token; ``HEAD`` counts as ``GET``."""

SELF_AUTHENTICATED_PREFIXES: tuple[str, ...] = ("/v1/federation/notify/",)
"""Route templates under these prefixes (the cloud change receivers) authenticate the
caller themselves, because a provider cannot always send a bearer header: they take
the token from ``?token=`` or check a Pub/Sub push's own OIDC token. They still
answer 401 without valid credentials (the route-walking test proves it)."""


def needs_token(request: web.Request) -> bool:
    """Whether the request reaches a route outside :data:`PUBLIC_ROUTES`."""
    info = request.match_info
    if info.http_exception is not None:
        return False
    resource = info.route.resource
    if resource is None:
        return True
    if resource.canonical.startswith(SELF_AUTHENTICATED_PREFIXES):
        return False
    method = "GET" if request.method == "HEAD" else request.method
    return (method, resource.canonical) not in PUBLIC_ROUTES


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if needs_token(request):
        request[PRINCIPAL] = await request.app[STATE].auth.authenticate(request)
    return await handler(request)
