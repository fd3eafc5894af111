"""Running the operator inside an event loop we own (so ``dev`` can run more beside it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import kopf

from .metrics import serve_metrics

QUIET_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "hvac",
    "azure",
    "msal",
    "google",
    "grpc",
    "hpack",
)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Client libraries log request and response bodies at DEBUG, which would put
    # secret values in the log: they stay at WARNING whatever the verbosity.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


async def run_operator(
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = False,
    peering_name: str = "scaivault-federation",
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    metrics_port: int = 0,
    metrics_addr: str = "127.0.0.1",
) -> None:
    """Run the kopf operator until ``stop_flag`` is set or the task is cancelled."""
    from .handlers import operator as _handlers  # noqa: F401  (registers the handlers)

    if metrics_port:
        serve_metrics(metrics_port, metrics_addr)

    await kopf.operator(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        peering_name=None if standalone else peering_name,
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
