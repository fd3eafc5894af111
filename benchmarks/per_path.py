"""Per-path syncs at scale: what one changed secret costs on backends of 2,000 and
10,000 secrets (trigger -> Secret updated, and the store requests the sync made), and
what a burst of change events for distinct paths costs (syncs, store requests, time).

Run by ``benchmarks/scale.py`` once its first syncs are done, on the same servers:
the store is reached through the counting proxy (:mod:`floor`), which counts the
requests; a watch of the namespace's Secrets tells when a Secret holds the new
value. A Vault sync is triggered by the ``sync-paths`` annotation (Vault sends no
change events), an AWS one by an EventBridge event posted to the API's receiver.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from apiserver import CRS, Kube, lines, wait_cr
from floor import CountingProxy

from scaivault_devenv.aws_events import eventbridge_event
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.static_tokens import write_dev_tokens
from scaivault_federation.labels import (
    BACKEND_LABEL,
    PLURAL,
    SYNC_PATHS_ANNOTATION,
    SYNC_REQUESTED_ANNOTATION,
)
from scaivault_federation.models.resource import sync_paths_value
from scaivault_federation.paths import secret_name_for_path

#: one-path syncs measured on each backend
SAMPLES = 20
#: change events of the burst, each for a path of its own
BURST = 500
#: events in flight at once while the burst is posted
BURST_CONNECTIONS = 32


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class SecretWatch:
    """A watch of one backend's Secrets in a namespace, telling when a Secret holds a
    value: :meth:`expect` before the change, then await what it answers."""

    def __init__(self, kube: Kube, namespace: str, backend: str) -> None:
        self.kube = kube
        self.path = f"/api/v1/namespaces/{namespace}/secrets"
        self.selector = f"{BACKEND_LABEL}={backend}"
        self._waiting: dict[str, tuple[dict[str, str], asyncio.Future[float]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SecretWatch:
        listing = await self.kube.ok(
            "GET", self.path, params={"labelSelector": self.selector, "limit": "1"}
        )
        version = listing["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._watch(version))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def expect(self, name: str, data: dict[str, bytes]) -> asyncio.Future[float]:
        """A future of the moment the Secret ``name`` is seen holding ``data``."""
        seen: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
        self._waiting[name] = (encoded, seen)
        return seen

    async def _watch(self, version: str) -> None:
        params = {
            "watch": "true",
            "labelSelector": self.selector,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.kube.session.get(
            self.kube.server + self.path, params=params, headers=self.kube.headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"watch {self.path}: HTTP {resp.status}")
            async for line in lines(resp.content):
                event = json.loads(line)
                obj = event.get("object") or {}
                name = str((obj.get("metadata") or {}).get("name"))
                waiting = self._waiting.get(name)
                if waiting is not None and obj.get("data") == waiting[0]:
                    del self._waiting[name]
                    if not waiting[1].done():
                        waiting[1].set_result(time.perf_counter())


# --- one path ------------------------------------------------------------------------------


@dataclass
class OnePath:
    label: str
    size: int
    trigger: str
    latencies: list[float] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)


@dataclass
class Target:
    """A synced backend, one secret of which is changed and synced at a time."""

    label: str
    namespace: str
    backend: str
    size: int
    local_of: Callable[[int], str]  # the ScaiVault path of secret i
    change: Callable[[int, dict[str, str]], Awaitable[None]]  # write secret i's new value
    trigger: Callable[[str], Awaitable[None]]  # ask for a sync of one ScaiVault path
    how: str


async def one_path_syncs(kube: Kube, proxy: CountingProxy, target: Target) -> OnePath:
    """:data:`SAMPLES` times: a secret changed in the store, then its path's sync asked
    for; the time from the trigger until its Secret holds the value, and the store's
    requests from the trigger until the status says the sync is done."""
    result = OnePath(target.label, target.size, target.how)
    path = f"{CRS}/namespaces/{target.namespace}/{PLURAL}/{target.backend}"
    async with SecretWatch(kube, target.namespace, target.backend) as watch:
        for sample in range(SAMPLES):
            i = (sample * 7919) % target.size
            value = {"username": f"u{i}", "password": uuid.uuid4().hex}
            await target.change(i, value)
            last = ((await kube.ok("GET", path)).get("status") or {}).get("lastSync")
            local = target.local_of(i)
            seen = watch.expect(
                secret_name_for_path(local), {k: v.encode() for k, v in value.items()}
            )
            await asyncio.to_thread(proxy.reset)
            started = time.perf_counter()
            await target.trigger(local)
            result.latencies.append(await asyncio.wait_for(seen, 60) - started)
            await wait_cr(kube, target.namespace, target.backend, moved_from(last), 60)
            result.requests.append(await asyncio.to_thread(proxy.counts))
    return result


def moved_from(last: object) -> Callable[[dict[str, Any]], bool]:
    """Whether a status reports a sync after the one of ``last`` (its ``lastSync``)."""
    return lambda status: status.get("lastSync") != last


def annotation_trigger(
    kube: Kube, namespace: str, backend: str
) -> Callable[[str], Awaitable[None]]:
    """A sync of one path through the ``sync-paths`` annotation."""
    path = f"{CRS}/namespaces/{namespace}/{PLURAL}/{backend}"

    async def trigger(local: str) -> None:
        now = stamp()
        notes = {
            SYNC_REQUESTED_ANNOTATION: now,
            SYNC_PATHS_ANNOTATION: sync_paths_value(now, [local]),
        }
        await kube.ok(
            "PATCH",
            path,
            {"metadata": {"annotations": notes}},
            content_type="application/merge-patch+json",
        )

    return trigger


@dataclass
class Api:
    """The API process, and a client posting change events to it."""

    url: str
    token: str
    session: aiohttp.ClientSession

    async def notify_aws(self, secret_id: str, region: str) -> dict[str, Any]:
        async with self.session.post(
            f"{self.url}/v1/federation/notify/aws",
            json=eventbridge_event(secret_id, region),
            headers={"Authorization": f"Bearer {self.token}"},
        ) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"notify: HTTP {resp.status} {answer}")
            return answer


def api_process(
    cp: ControlPlane, tmp: Path, namespace: str, name: str
) -> tuple[ManagedProcess, int, dict[str, str]]:
    """``scaivault-federation api`` as it is deployed (not started yet), its port, and
    its static tokens (``admin``: every scope)."""
    tokens = write_dev_tokens(tmp / f"{name}-tokens.yaml")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "scaivault_federation.cli",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--static-tokens",
        str(tmp / f"{name}-tokens.yaml"),
        "--default-namespace",
        namespace,
    ]
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
    return ManagedProcess(name, argv, tmp / f"{name}.log", env=env), port, tokens


@contextlib.asynccontextmanager
async def running_api(cp: ControlPlane, tmp: Path, namespace: str) -> AsyncIterator[Api]:
    """``scaivault-federation api`` as it is deployed, with an admin static token."""
    process, port, tokens = api_process(cp, tmp, namespace, "api-notify")
    process.start()
    try:
        connector = aiohttp.TCPConnector(limit=BURST_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:
            api = Api(f"http://127.0.0.1:{port}", tokens["admin"], session)
            deadline = time.monotonic() + 60
            while True:  # ready once an event is answered (503 while the cache fills)
                with contextlib.suppress(aiohttp.ClientError, RuntimeError, OSError):
                    await api.notify_aws("never/mapped", "nowhere-1")
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not answer within 60 s")
                await asyncio.sleep(0.2)
            yield api
    finally:
        process.stop()


def event_trigger(
    api: Api, region: str, remote_of: Callable[[str], str]
) -> Callable[[str], Awaitable[None]]:
    """A sync of one path through an EventBridge event of its secret."""

    async def trigger(local: str) -> None:
        answer = await api.notify_aws(remote_of(local), region)
        if not answer.get("synced"):
            raise RuntimeError(f"the event synced nothing: {answer}")

    return trigger


# --- a burst -------------------------------------------------------------------------------


@dataclass
class Burst:
    events: int
    posting: float  # seconds from the first event sent to the last answered
    answers: Counter[int]  # HTTP statuses
    stamps: int  # patches of the CR: distinct sync-requested-at stamps answered
    updated: float  # seconds from the first event sent to the last Secret updated
    syncs: Counter[str]  # "per-path" / "full", from the operator's log
    requests: dict[str, int]  # the store's, from the first event until the syncs are done
    size: int


async def burst(
    kube: Kube,
    proxy: CountingProxy,
    api: Api,
    target: Target,
    region: str,
    remote_of: Callable[[str], str],
    operator_log: Path,
) -> Burst:
    """:data:`BURST` secrets changed in the store, then an event for each posted to the
    API, :data:`BURST_CONNECTIONS` at once; until every Secret holds its new value and
    the operator's syncs are done."""
    chosen = [(k * 7919 + 13) % target.size for k in range(BURST)]
    values = {i: {"username": f"u{i}", "password": uuid.uuid4().hex} for i in chosen}
    await asyncio.gather(*(target.change(i, value) for i, value in values.items()))
    offset = await asyncio.to_thread(os.path.getsize, operator_log)
    async with SecretWatch(kube, target.namespace, target.backend) as watch:
        seen = [
            watch.expect(
                secret_name_for_path(target.local_of(i)), {k: v.encode() for k, v in v2.items()}
            )
            for i, v2 in values.items()
        ]
        await asyncio.to_thread(proxy.reset)
        answers: Counter[int] = Counter()
        stamps: set[str] = set()

        async def post(i: int) -> None:
            async with api.session.post(
                f"{api.url}/v1/federation/notify/aws",
                json=eventbridge_event(remote_of(target.local_of(i)), region),
                headers={"Authorization": f"Bearer {api.token}"},
            ) as resp:
                answers[resp.status] += 1
                body = await resp.json()
                stamps.update(s["sync_requested_at"] for s in body.get("synced") or [])

        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in chosen))
        posting = time.perf_counter() - started
        updated = max(await asyncio.wait_for(asyncio.gather(*seen), 600)) - started
    requests = await settled(proxy)
    syncs = synced_lines(operator_log, offset, f"{target.namespace}/{target.backend}")
    return Burst(BURST, posting, answers, len(stamps), updated, syncs, requests, target.size)


async def settled(proxy: CountingProxy, quiet: float = 3.0) -> dict[str, int]:
    """The proxy's counts once no request came for ``quiet`` seconds."""
    counts = await asyncio.to_thread(proxy.counts)
    while True:
        await asyncio.sleep(quiet)
        again = await asyncio.to_thread(proxy.counts)
        if again == counts:
            return counts
        counts = again


def synced_lines(operator_log: Path, offset: int, backend: str) -> Counter[str]:
    """The syncs of ``backend`` the operator logged after ``offset``, per-path or full."""
    with operator_log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
    kinds: Counter[str] = Counter()
    for line in text.splitlines():
        if f"synced {backend}" in line:
            kinds["per-path" if "path(s) only" in line else "full"] += 1
    return kinds


# --- the tables ----------------------------------------------------------------------------


def requests_per_sync(samples: list[dict[str, int]]) -> str:
    total: Counter[str] = Counter()
    for sample in samples:
        total.update(sample)
    return ", ".join(f"{op} {n / len(samples):g}" for op, n in sorted(total.items())) or "none"


def print_one_path(results: list[OnePath]) -> None:
    print("\n### One changed secret, one path synced: trigger -> Secret updated\n")
    print(
        "| backend | secrets | trigger | median | p95 | max | store requests per sync "
        "(a listing: none) |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for r in results:
        ms = [s * 1000 for s in r.latencies]
        print(
            f"| {r.label} | {r.size:,} | {r.trigger} | {statistics.median(ms):.1f} ms | "
            f"{percentile(ms, 0.95):.1f} ms | {max(ms):.1f} ms | {requests_per_sync(r.requests)} |"
        )
    print(
        f"\n{SAMPLES} syncs each, one after another: a secret changed in the store, then its "
        "path's sync asked for (the annotation patched, or the event posted to the API); the "
        "time until a watch sees its Secret hold the new value, and the requests the store got "
        "through the counting proxy until the sync's status was written."
    )


def print_burst(b: Burst) -> None:
    print(
        f"\n### A burst of {b.events} change events for distinct paths ({b.size:,} AWS secrets)\n"
    )
    print("| figure | measured |")
    print("| --- | --- |")
    statuses = ", ".join(f"{n} x HTTP {code}" for code, n in sorted(b.answers.items()))
    print(
        f"| events posted to the API, one a request, {BURST_CONNECTIONS} at once | "
        f"{b.events} in {b.posting:.2f} s ({statuses}) |"
    )
    print(f"| patches of the CR (distinct `sync-requested-at` answered) | {b.stamps} |")
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(b.syncs.items())) or "none"
    print(f"| syncs | {sum(b.syncs.values())} ({kinds}) |")
    print(f"| store requests | {requests_text(b.requests)} |")
    print(f"| first event sent -> last of the {b.events} Secrets updated | {b.updated:.2f} s |")


def requests_text(requests: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(requests.items())) or "none"
