"""The operator's liveness endpoint (``--liveness http://0.0.0.0:8080/healthz``): an
HTTP GET of its path answers 200 with a small JSON document while the process's
event loop runs; the kubelet restarts a pod whose answer stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web


class InvalidLivenessEndpointError(ValueError):
    """The liveness URL names no port to listen on."""


async def serve_liveness(url: str, report: Callable[[], dict[str, Any]]) -> web.AppRunner:
    """Listen on ``url``'s host and port and answer GET of its path with ``report()``;
    the caller cleans the returned runner up."""
    parts = urlsplit(url)
    if parts.port is None:
        raise InvalidLivenessEndpointError(f"liveness {url!r}: no port")

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(report())

    app = web.Application()
    app.router.add_get(parts.path or "/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, parts.hostname or "0.0.0.0", parts.port).start()  # noqa: S104
    except BaseException:
        await runner.cleanup()
        raise
    return runner
