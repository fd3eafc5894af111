"""``/metrics`` and ``/healthz`` of the API, and the middleware that measures requests.

Requests are labelled by the matched route's template
(``/v1/secrets/{path}``), never by the raw path, so no secret path or id ends
up in a label and the number of series stays bounded.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from .errors import Handler, route_template
from .route import Answer, Route, Schema, Security
from .state import STATE

log = logging.getLogger(__name__)

LABELS = ("method", "route", "status")

REQUESTS = Counter(
    "scaivault_api_requests_total", "HTTP API requests, by route template and status.", LABELS
)
LATENCY = Histogram(
    "scaivault_api_request_duration_seconds",
    "HTTP API request latency, by route template and status.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

METRICS_PATH = "/metrics"
HEALTHZ_PATH = "/healthz"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_template(request)
        method = request.method if request.method in _METHODS else "OTHER"
        labels = (method, route, str(status))
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        log.debug("%s %s -> %d", method, route, status)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    if request.app[STATE].cache.synced.is_set():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "starting"}, status=503, headers={"Retry-After": "1"})


_HEALTH = Schema(
    {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok", "starting"]}},
        "required": ["status"],
    }
)

ROUTES = (
    Route(
        "GET",
        HEALTHZ_PATH,
        healthz,
        "200 once the backend cache is loaded.",
        answers=(Answer(200, "Ready.", _HEALTH), Answer(503, "Starting.", _HEALTH)),
        security=Security.NONE,
    ),
    Route(
        "GET",
        METRICS_PATH,
        metrics,
        "Prometheus metrics.",
        answers=(
            Answer(200, "Metrics in the text format.", Schema({"type": "string"}), "text/plain"),
        ),
        security=Security.NONE,
    ),
)
