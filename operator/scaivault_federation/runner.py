"""Running the operator inside an event loop we own (so ``dev`` can run more beside it)."""

from __future__ import annotations

import asyncio
import logging

import kopf

from .settings import Settings
from .sync.metrics import serve_metrics

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
    settings: Settings,
    *,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run the kopf operator until ``stop_flag`` is set or the task is cancelled."""
    from .handlers import operator as _handlers  # noqa: F401  (registers the handlers)

    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.metrics_addr)

    namespaces = list(settings.watch_namespaces)
    if not namespaces:  # cluster-scoped ClusterFederationBackends need a cluster-wide operator
        from .handlers import cluster as _cluster  # noqa: F401
    await kopf.operator(
        clusterwide=not namespaces,
        namespaces=namespaces,
        # Replicas coordinate through Leases of their own (see sync/membership.py):
        # kopf's peering would pause every replica instead.
        standalone=True,
        peering_name=None,
        liveness_endpoint=settings.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        memo=kopf.Memo(settings=settings),
    )
