"""Running the operator inside an event loop we own (so ``dev`` can run more beside it).

The process's life is ours, not a framework's: :func:`run_operator` loads the
Kubernetes connection, starts the :class:`..controller.Controller` (its
watches feed the fleet of workers), serves the liveness endpoint and
``/metrics``, and runs until SIGTERM or SIGINT (or the caller's ``stop_flag``);
then it stops the controller, so every worker closes its client and a
replica's Lease is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

from .backends.registry import quiet_loggers
from .controller import Controller
from .heap import trim_periodically
from .liveness import serve_liveness
from .services import connection_of
from .settings import Settings
from .sync.metrics import serve_metrics

log = logging.getLogger(__name__)

#: logged once the operator watches its backends (what a test or a script waits for)
STARTED = "operator started"

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
    """Run the operator until SIGTERM or SIGINT, ``stop_flag`` is set, or the task is
    cancelled; ``ready_flag`` is set once it watches its backends.

    The Kubernetes connection is loaded first (an exec plugin may take a moment), so
    a kubeconfig that cannot log in stops the command with its message."""
    connection = await asyncio.to_thread(connection_of, settings)
    log.info("Kubernetes: %s, %s", connection.source, connection.server)
    if settings.operator.metrics_port:
        serve_metrics(settings.operator.metrics_port, settings.operator.metrics_addr)
    stop = stop_flag or asyncio.Event()
    trimming = asyncio.create_task(trim_periodically(), name="heap trim")
    try:
        with _stopped_by_signals(stop):
            controller = await Controller.open(settings, connection)
            liveness = None
            try:
                controller.start()
                if settings.operator.liveness:
                    liveness = await serve_liveness(
                        settings.operator.liveness, lambda: {"backends": len(controller.fleet)}
                    )
                kinds = ", ".join(store.kind.kind for store in controller.services.stores)
                log.info("%s: %s", STARTED, kinds)
                if ready_flag is not None:
                    ready_flag.set()
                await stop.wait()
                log.info("operator stopping")
            finally:
                await controller.stop()
                if liveness is not None:
                    await liveness.cleanup()
    finally:
        trimming.cancel()


@contextlib.contextmanager
def _stopped_by_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while inside (where the loop may take signals:
    the main thread)."""
    loop = asyncio.get_running_loop()
    taken = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            taken.append(sig)
    try:
        yield
    finally:
        for sig in taken:
            loop.remove_signal_handler(sig)
