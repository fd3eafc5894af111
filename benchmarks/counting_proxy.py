"""A reverse proxy that counts the requests it forwards to one backend server, run as
its own process in front of moto or OpenBao, so that the operator and the pipelined
floor reach the store the same way and their requests are counted alike.

Every request is forwarded as it came (its ``Host`` header too, which AWS signatures
cover) over keep-alive connections; ``GET /__counts`` answers the requests counted so
far by operation (AWS: the ``X-Amz-Target`` action; Vault: the method, ``LIST`` for a
``list=true`` GET, and the API path's kind: ``data``, ``metadata``,
``detailed-metadata``, ``auth``, ``sys``), ``POST /__counts/reset`` sets them to zero.

    python benchmarks/counting_proxy.py --upstream http://127.0.0.1:5000 --port 18000
"""

from __future__ import annotations

import argparse
from collections import Counter

import aiohttp
from aiohttp import web

COUNTS = "/__counts"
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te"}
)


def operation(request: web.Request) -> str:
    """What a request asks the store, for the counts."""
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    method = "LIST" if request.query.get("list") == "true" else request.method
    parts = request.path.strip("/").split("/")
    kind = (
        parts[2] if len(parts) > 2 and parts[0] == "v1" and parts[1] not in ("auth", "sys") else ""
    )
    return f"{method} {kind or (parts[1] if len(parts) > 1 else request.path)}"


def make_app(upstream: str) -> web.Application:
    counts: Counter[str] = Counter()
    session: list[aiohttp.ClientSession] = []

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=64, force_close=False)
        session.append(aiohttp.ClientSession(connector=connector, auto_decompress=False))

    async def stop(app: web.Application) -> None:
        await session[0].close()

    async def counted(request: web.Request) -> web.Response:
        if request.method == "POST" and request.path == f"{COUNTS}/reset":
            counts.clear()
        return web.json_response(dict(counts))

    async def forward(request: web.Request) -> web.Response:
        counts[operation(request)] += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with session[0].request(
            request.method,
            upstream + request.path_qs,
            data=body or None,
            headers=headers,
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        ) as upstream_answer:
            payload = await upstream_answer.read()
            answer_headers = {
                k: v for k, v in upstream_answer.headers.items() if k.lower() not in _HOP
            }
            return web.Response(status=upstream_answer.status, body=payload, headers=answer_headers)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("GET", COUNTS, counted)
    app.router.add_route("POST", f"{COUNTS}/reset", counted)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the server's base URL")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        make_app(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
