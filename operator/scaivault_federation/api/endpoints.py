"""Every route the API serves, in the order of its OpenAPI document: each module's
declarations (:mod:`.route`), from which the router and the document are built."""

from __future__ import annotations

from . import backends, leased, observability, openapi, secrets
from .notify import routes as notify
from .route import Route

ROUTES: tuple[Route, ...] = (
    *backends.ROUTES,
    *leased.ROUTES,
    *notify.ROUTES,
    *secrets.ROUTES,
    openapi.ROUTE,
    *observability.ROUTES,
)
