"""Running the operator inside an event loop we own (so ``dev`` can run more beside it)."""

from __future__ import annotations

import asyncio
import logging

import kopf
from kopf._core.engines.peering import Identity

from .backends.registry import quiet_loggers
from .heap import trim_periodically
from .k8s.config import KubeConnection, load_connection
from .settings import Settings
from .sync.metrics import serve_metrics

log = logging.getLogger(__name__)

#: client libraries' loggers besides the backend SDKs' (each type names its own)
QUIET_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "urllib3",
    "requests",
    "hpack",
    "kubernetes",
)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Client libraries log request and response bodies at DEBUG, which would put
    # secret values in the log: they stay at WARNING whatever the verbosity.
    for name in (*QUIET_LOGGERS, *quiet_loggers()):
        logging.getLogger(name).setLevel(logging.WARNING)


async def run_operator(
    settings: Settings,
    *,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run the kopf operator until ``stop_flag`` is set or the task is cancelled.

    The Kubernetes connection is loaded first (an exec plugin may take a moment), so
    a kubeconfig that cannot log in stops the command with its message; our
    client and kopf's login both take their credentials from it."""
    connection = await asyncio.to_thread(
        load_connection,
        settings.kube.config,
        context=settings.kube.context,
        service_host=settings.kube.service_host,
        service_port=settings.kube.service_port,
    )
    log.info("Kubernetes: %s, %s", connection.source, connection.server)

    if settings.operator.metrics_port:
        serve_metrics(settings.operator.metrics_port, settings.operator.metrics_addr)

    namespaces = list(settings.operator.watch_namespaces)
    if not namespaces:  # cluster-scoped ClusterFederationBackends need a cluster-wide operator
        from .handlers import cluster as _cluster  # noqa: F401
    trimming = asyncio.create_task(trim_periodically(), name="heap trim")
    try:
        await _run_kopf(settings, namespaces, connection, stop_flag, ready_flag)
    finally:
        trimming.cancel()


async def _run_kopf(
    settings: Settings,
    namespaces: list[str],
    connection: KubeConnection,
    stop_flag: asyncio.Event | None,
    ready_flag: asyncio.Event | None,
) -> None:
    from .handlers.operator import REGISTRY

    await kopf.operator(
        clusterwide=not namespaces,
        namespaces=namespaces,
        # Replicas coordinate through Leases of their own (see sync/membership.py):
        # kopf's peering would pause every replica instead.
        standalone=True,
        peering_name=None,
        # Named here: kopf's own default asks the passwd database for the user.
        identity=Identity(settings.operator.replica_name),
        liveness_endpoint=settings.operator.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        memo=kopf.Memo(settings=settings, connection=connection),
        registry=REGISTRY,
    )
