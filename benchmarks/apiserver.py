"""The apiserver as the benchmarks call it: admin requests through a minimal aiohttp
client, its request counts, a CR's status awaited, a watch's lines."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.labels import GROUP, PLURAL, VERSION

CRS = f"/apis/{GROUP}/{VERSION}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Kube:
    """Admin calls to the apiserver with at most ``limit`` connections."""

    def __init__(self, cp: ControlPlane, limit: int = 16) -> None:
        self.server = cp.server
        self.headers = {"Authorization": f"Bearer {cp.admin_token}", "Accept": "application/json"}
        self.ssl = ssl.create_default_context(cafile=str(cp.ca_file))
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=self.limit)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=300)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self.session.request(
            method, self.server + path, data=data, params=params, headers=headers
        ) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text.startswith("{") else text)

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, doc = await self.call(method, path, body, **kw)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {str(doc)[:300]}")
        return doc

    async def list_items(self, path: str, params: dict[str, str] | None = None) -> list[Any]:
        items: list[Any] = []
        query = {"limit": "1000", **(params or {})}
        while True:
            doc = await self.ok("GET", path, params=query)
            items.extend(doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return items
            query = {**query, "continue": token}

    async def metrics(self) -> str:
        status, text = await self.call("GET", "/metrics")
        if status != 200 or not isinstance(text, str):
            raise RuntimeError(f"apiserver /metrics: {status}")
        return text


async def bounded(jobs: Iterable[Awaitable[None]], limit: int) -> None:
    slots = asyncio.Semaphore(limit)

    async def run(job: Awaitable[None]) -> None:
        async with slots:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


def request_counts(text: str, resources: Iterable[str]) -> Counter[tuple[str, str]]:
    """``apiserver_request_total`` summed by (resource, verb) for ``resources``."""
    wanted = set(resources)
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            resource = sample.labels.get("resource", "")
            if resource in wanted and not sample.labels.get("subresource"):
                counts[(resource, sample.labels.get("verb", ""))] += int(sample.value)
    return counts


async def wait_cr(
    kube: Kube, namespace: str, name: str, done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll the CR every 0.2 s until ``done(status)``; returns that status."""
    deadline = time.monotonic() + timeout
    path = f"{CRS}/namespaces/{namespace}/{PLURAL}/{name}"
    while True:
        status, doc = await kube.call("GET", path)
        current = (doc.get("status") or {}) if status == 200 else {}
        if done(current):
            return dict(current)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{namespace}/{name}: not done after {timeout:.0f}s: {current}")
        await asyncio.sleep(0.2)


async def lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    buffer = b""
    async for chunk in stream.iter_any():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
