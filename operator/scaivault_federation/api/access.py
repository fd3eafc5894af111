"""Which requests need a bearer token, and the one middleware that checks it.

Every route needs a valid token unless its declaration (:class:`.route.Route`)
says otherwise: public (``Security.NONE``: ``/healthz``, ``/metrics``, the
OpenAPI document), or authenticating its caller itself (``Security.RECEIVER``:
the cloud change receivers, because a provider cannot always send a bearer
header; they take the token from ``?token=`` or check a Pub/Sub push's own
OIDC token, and still answer 401 without valid credentials). A route served
without a declaration is protected too. The middleware authenticates the
caller before the handler runs and stores the :class:`.auth.Principal` on the
request; handlers only decide what that caller may do
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
from .route import Security, declared
from .state import STATE


def needs_token(request: web.Request) -> bool:
    """Whether the request reaches a route the middleware authenticates the caller of."""
    if request.match_info.http_exception is not None:
        return False
    route = declared(request)
    return route is None or route.security is Security.BEARER


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if needs_token(request):
        request[PRINCIPAL] = await request.app[STATE].auth.authenticate(request)
    return await handler(request)
