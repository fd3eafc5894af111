"""Loopback stand-ins that record every request: a backend endpoint, a cloud's metadata
server, a credential endpoint. They answer with an error, so nothing is ever granted."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

#: what a JSON Web Token looks like (a ServiceAccount token, a cloud identity token)
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything the request carried, as text."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.body.decode(errors='replace')}"

    def tokens(self) -> set[str]:
        """Every bearer-like credential in it: JWTs anywhere, and the values of the
        headers and JSON fields a login or an authorised call carries one in."""
        found = set(JWT.findall(self.text()))
        for name in ("authorization", "x-vault-token"):
            value = self.headers.get(name, "")
            found.add(value.removeprefix("Bearer ").strip())
        with contextlib.suppress(ValueError):
            doc = json.loads(self.body or b"{}")
            if isinstance(doc, dict):
                found.update(str(doc[k]) for k in ("jwt", "token") if k in doc)
        found.discard("")
        return found


@dataclass
class Listener:
    """An HTTP server on 127.0.0.1 recording what arrives; it answers ``status``."""

    status: int = 500
    url: str = ""
    port: int = 0
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(request.method, request.path_qs, headers, body))
        return web.Response(status=self.status)

    @property
    def requests(self) -> int:
        return len(self.received)


@contextlib.asynccontextmanager
async def listening(status: int = 500) -> AsyncIterator[Listener]:
    listener = Listener(status)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", listener.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    listener.port = runner.addresses[0][1]
    listener.url = f"http://127.0.0.1:{listener.port}"
    try:
        yield listener
    finally:
        await runner.cleanup()
