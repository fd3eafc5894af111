"""The API's listening socket as a network service: TLS, time limits, a connection cap.

- **TLS**: with a certificate and key file (the chart mounts them from a
  Secret), the API serves HTTPS only. :class:`ReloadingCertificate` checks the
  files every few seconds and loads a changed pair into the same
  ``SSLContext``, so new connections get the new certificate without a restart
  (a Secret volume is updated in place); a pair that does not load is logged
  and the previous one kept.
- **Request head**: a connection that has not sent a whole request head within
  ``head_timeout`` of connecting, or of its last answer, is closed (aiohttp's
  keep-alive timer, which closes a connection waiting for its next request, is
  set to this). The TLS handshake has the same limit.
- **Request body**: :func:`body_timeout_middleware` reads a body within
  ``body_timeout`` or answers 408.
- **Connections**: past ``max_connections`` open ones, a new connection is
  closed as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from .errors import ApiError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ListenerLimits:
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000


class ReloadingCertificate:
    """A server ``SSLContext`` whose certificate chain follows its files."""

    def __init__(self, cert_file: Path, key_file: Path, interval: float) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.interval = interval
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._loaded = self._signature()
        self.context.load_cert_chain(cert_file, key_file)

    def _signature(self) -> tuple[tuple[int, int, int], ...]:
        stats = (os.stat(self.cert_file), os.stat(self.key_file))
        return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)

    def reload_if_changed(self) -> bool:
        """Load the files again when they changed; whether a new pair is now served."""
        try:
            signature = self._signature()
        except OSError as exc:
            log.warning("cannot read the API's certificate files: %s", type(exc).__name__)
            return False
        if signature == self._loaded:
            return False
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            # half-written during an update, or a mismatched pair: try again next time
            log.warning("the API's new certificate does not load yet: %s", type(exc).__name__)
            return False
        self._loaded = signature
        log.info("the API serves a new certificate from %s", self.cert_file)
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.reload_if_changed()


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class BoundedSite(web.BaseSite):
    """A TCP site with a cap on open connections and a TLS handshake limit."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: ListenerLimits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._limits = limits

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return str(URL.build(scheme=scheme, host=self._host, port=self._port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limit = self._limits.max_connections

        def connection() -> asyncio.Protocol:
            if len(server.connections) >= limit:
                return _Refused()
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            connection,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._limits.head_timeout if self._ssl_context else None,
            backlog=self._backlog,
            reuse_address=True,
        )


def body_timeout_middleware(seconds: float) -> Middleware:
    """Read a request's body within ``seconds`` (408 otherwise), before its handler runs;
    the handler then reads it from memory."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                raise ApiError(
                    408, f"the request body did not arrive within {seconds:g} s"
                ) from None
        return await handler(request)

    return read_body_in_time
