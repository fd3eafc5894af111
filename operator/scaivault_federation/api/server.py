"""``scaivault-federation api``: the HTTP API as an aiohttp application.

:func:`run_api` runs it inside the caller's event loop until cancelled (``dev``
runs it next to the operator); :func:`serve_api` is the command's entry
point. Its client, stores and backend environment are the
:class:`..services.Services` the operator builds too. The API's own
Kubernetes identity comes from the kubeconfig or the pod's service account,
loaded by the ``kubernetes`` package (``k8s/config.py``); it needs to list and
watch FederationBackends (and, serving them, ClusterFederationBackends and
namespaces' labels), to get, create, patch and delete them, to read and write
Secrets, and to create TokenReviews and SubjectAccessReviews.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from ..k8s.leased_listing import LeasedListing
from ..k8s.namespace_index import NamespaceIndex
from ..models.kind import CLUSTER_FEDERATION_BACKEND
from ..services import Services, api_kinds, connection_of
from ..settings import Settings
from .access import auth_middleware
from .auth import Authenticator
from .cache import BackendCache
from .endpoints import ROUTES
from .errors import error_middleware
from .listener import BoundedSite, ListenerLimits, ReloadingCertificate, body_timeout_middleware
from .notify.service import Notifications
from .observability import metrics_middleware
from .proxy import ProxyBackends
from .ratelimit import FailureLimiter
from .route import add_routes
from .state import STATE, ApiState
from .static_tokens import StaticTokens, write_dev_tokens

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
PRUNE_SECONDS = 60.0

__all__ = ["ApiServer", "build_app", "run_api", "serve_api", "write_dev_tokens"]


def build_app(state: ApiState, limits: ListenerLimits | None = None) -> web.Application:
    limits = limits or ListenerLimits()
    app = web.Application(
        middlewares=[
            metrics_middleware,
            error_middleware,
            auth_middleware,
            body_timeout_middleware(limits.body_timeout),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[STATE] = state
    add_routes(app, ROUTES)
    return app


class ApiServer:
    """The API's client, cache, proxy clients and listening socket, started and stopped
    together."""

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        """The API over ``services`` (by default, built from ``settings``)."""
        self.settings = settings
        if services is None:
            services = Services.build(settings, connection_of(settings), api_kinds(settings))
        self.services = services
        self.kube = services.client
        stores = services.stores
        selects = stores.serves(CLUSTER_FEDERATION_BACKEND)
        self.cache = BackendCache(stores, NamespaceIndex() if selects else None)
        self.proxy = ProxyBackends(services.connect, services.home)
        self.cache.listen_removed(self.proxy.forget_series)
        self.state = ApiState(
            stores=stores,
            cache=self.cache,
            auth=Authenticator(
                self.kube,
                StaticTokens(settings.api.static_tokens),
                ttl=settings.api.auth_cache_seconds,
                failures=FailureLimiter(
                    settings.api.auth_failure_rate, settings.api.auth_failure_burst
                ),
                audience=settings.api.token_audience,
                apiserver_audience=settings.api.token_apiserver_audience,
            ),
            proxy=self.proxy,
            store=services.secrets,
            environment=services.environment,
            default_namespace=settings.api.default_namespace
            or services.connection.default_namespace,
            leased=LeasedListing(self.kube),
            notifications=Notifications.from_settings(settings),
        )
        self.limits = ListenerLimits(
            head_timeout=settings.api.request_head_timeout_seconds,
            body_timeout=settings.api.request_body_timeout_seconds,
            max_connections=settings.api.max_connections,
        )
        self.app = build_app(self.state, self.limits)
        self.port = settings.api.port
        self.certificate: ReloadingCertificate | None = None
        if settings.api.tls_cert_file is not None and settings.api.tls_key_file is not None:
            self.certificate = ReloadingCertificate(
                settings.api.tls_cert_file,
                settings.api.tls_key_file,
                settings.api.tls_reload_seconds,
            )
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        host = self.settings.api.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.cache.run(), name="backend-cache"),
            asyncio.create_task(self._prune_proxies(), name="proxy-prune"),
        ]
        if self.certificate is not None:
            self._tasks.append(asyncio.create_task(self.certificate.watch(), name="api-tls"))
        # aiohttp closes a connection still waiting for a whole request head when its
        # keep-alive timer fires: armed at connect and after each answer
        self._runner = web.AppRunner(self.app, keepalive_timeout=self.limits.head_timeout)
        await self._runner.setup()
        site = BoundedSite(
            self._runner,
            self.settings.api.host,
            self.settings.api.port,
            self.limits,
            self.certificate.context if self.certificate is not None else None,
        )
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        log.info("API listening on %s", self.url)

    async def _prune_proxies(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            await self.proxy.prune(self.cache.uids())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.proxy.close()
        await self.state.notifications.close()
        await self.services.close()

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        """Start, set ``ready`` once the cache is loaded, run until cancelled, stop."""
        try:
            await self.start()
            await self.cache.synced.wait()
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def run_api(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Serve the API in the running event loop until the task is cancelled."""
    await ApiServer(settings).serve(ready)


async def serve_api(settings: Settings) -> None:
    """The ``api`` command: run until SIGTERM or SIGINT."""
    task = asyncio.create_task(run_api(settings))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
