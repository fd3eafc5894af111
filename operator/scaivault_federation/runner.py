"""Running the operator inside an event loop we own (so ``dev`` can run more beside it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import kopf


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def run_operator(
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = False,
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run the kopf operator until ``stop_flag`` is set or the task is cancelled."""
    from .handlers import operator as _handlers  # noqa: F401  (registers the handlers)

    await kopf.operator(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
