"""The HTTP API's server run in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from scaivault_federation.api.server import ApiServer
from scaivault_federation.settings import Settings


@contextlib.asynccontextmanager
async def started_api(settings: Settings) -> AsyncIterator[ApiServer]:
    """An API server in this event loop, once its backend cache is loaded."""
    server = ApiServer(settings)
    ready = asyncio.Event()
    task = asyncio.create_task(server.serve(ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        task.cancel()
        raise RuntimeError("the API did not become ready")
    try:
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
