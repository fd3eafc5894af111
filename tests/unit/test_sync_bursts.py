"""Bursts of manual-sync requests: those a worker sees while a sync runs become one next
sync of their paths together, each once; more paths than a per-path sync takes become
one full sync; and the API writes the requests of one backend made at once together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from scaivault_federation.api.sync_requests import SyncRequests
from scaivault_federation.backends.base import Described
from scaivault_federation.k8s.backend_store import BackendStore
from scaivault_federation.k8s.client import ConflictError, NotFoundError
from scaivault_federation.models.kind import FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource, merged_request
from scaivault_federation.paths import MAX_SCOPE_PATTERNS, PathScope
from scaivault_federation.sync.pending_requests import PendingRequests
from scaivault_federation.sync.worker import BackendWorker
from tests.unit.engine_fakes import FakeConnection, World, backend_object


def test_pending_requests_merge_dedupe_and_become_full_past_the_limit() -> None:
    pending = PendingRequests()
    assert not pending.pending
    pending.add(PathScope(["app/a", "app/b"]))
    pending.add(PathScope(["app/b", "app/c/**"]))
    assert pending.noted == 2
    assert pending.take() == PathScope(["app/a", "app/b", "app/c/**"])
    assert not pending.pending and pending.noted == 0

    pending.add(PathScope(["app/a"]))
    pending.add(None)  # a full sync asked for: stays full
    pending.add(PathScope(["app/b"]))
    assert pending.pending and pending.take() is None

    for i in range(MAX_SCOPE_PATTERNS):
        pending.add(PathScope([f"app/{i}"]))
    assert pending.take() == PathScope([f"app/{i}" for i in range(MAX_SCOPE_PATTERNS)])
    for i in range(MAX_SCOPE_PATTERNS + 1):
        pending.add(PathScope([f"app/{i}"]))
    assert pending.take() is None


def test_merging_counts_each_path_once() -> None:
    half = PathScope([f"app/{i}" for i in range(60)])
    assert merged_request(half, half) == half
    assert merged_request(half, PathScope(["app/x"])) is not None
    assert merged_request(half, PathScope([f"app/{i}" for i in range(60, 120)])) is None


# --- the worker ----------------------------------------------------------------------------


class Gate:
    """Holds every look-up of the connections made while it is closed."""

    def __init__(self, world: World) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.described: list[list[str]] = []
        connect = world.connector.__call__

        async def gated(*args: Any) -> FakeConnection:
            connection = await connect(*args)
            describe = connection.describe_secrets

            async def held(paths: Sequence[str]) -> Described:
                self.described.append(sorted(paths))
                await self.open.wait()
                return await describe(paths)

            connection.describe_secrets = held  # type: ignore[method-assign]
            return connection

        world.deps.connect = gated


@contextlib.asynccontextmanager
async def running(world: World) -> AsyncIterator[BackendWorker]:
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def spin(rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def stamp(n: int) -> str:
    return f"2026-03-01T12:00:05.{n:06d}Z"


async def test_requests_seen_while_a_sync_runs_make_one_next_sync_of_their_paths() -> None:
    world = World(
        remote={f"prod/s{i}": "1" for i in range(10)},
        pathMapping={"app/**": "prod/**"},
        syncInterval="1h",
    )
    gate = Gate(world)
    async with running(world):
        syncs = len(world.statuses.written)
        gate.open.clear()
        world.request_sync(stamp(1), ["app/s0"])
        await spin()
        assert gate.described == [["prod/s0"]]  # the sync of app/s0 is under way
        # each request replaces the annotations (no writer merged them): none is lost
        world.request_sync(stamp(2), ["app/s1"])
        world.request_sync(stamp(3), ["app/s2", "app/s1"])
        world.request_sync(stamp(4), ["app/s3"])
        gate.open.set()
        await world.clock.settle()
    assert gate.described == [["prod/s0"], ["prod/s1", "prod/s2", "prod/s3"]]
    assert len(world.statuses.written) == syncs + 2


async def test_more_paths_than_a_per_path_sync_takes_make_one_full_sync() -> None:
    size = MAX_SCOPE_PATTERNS + 50
    world = World(
        remote={f"prod/s{i}": "1" for i in range(size)},
        pathMapping={"app/**": "prod/**"},
        syncInterval="1h",
    )
    gate = Gate(world)
    async with running(world):
        syncs, listings = len(world.statuses.written), world.syncs
        gate.open.clear()
        world.request_sync(stamp(0), ["app/s0"])
        await spin()
        for i in range(1, size):
            world.server.set(f"prod/s{i}", "2")
            world.request_sync(stamp(i), [f"app/s{i}"])
        gate.open.set()
        await world.clock.settle()
    assert gate.described == [["prod/s0"]]  # then no look-up: one listing of everything
    assert world.syncs == listings + 1
    assert len(world.statuses.written) == syncs + 2
    assert world.store.data("team-a")[f"app-s{size - 1}"] == {"value": b"2"}


# --- the API: one write per backend at a time ------------------------------------------


@dataclass
class SlowStore:
    """A backend's store whose writes take a moment; it records what each one asked."""

    writes: list[PathScope | None] = field(default_factory=list)
    fail: Exception | None = None
    kind = FEDERATION_BACKEND

    async def request_sync(
        self, namespace: str, name: str, stamp: str, paths: PathScope | None = None
    ) -> FederationBackendResource:
        self.writes.append(paths)
        await asyncio.sleep(0.01)
        if self.fail is not None:
            raise self.fail
        return FederationBackendResource.from_object(backend_object(name=name))


def as_store(store: SlowStore) -> BackendStore:
    return store  # type: ignore[return-value]


async def test_requests_made_while_one_is_written_go_together_in_the_next_write() -> None:
    requests, store = SyncRequests(), SlowStore()
    first = asyncio.create_task(requests.request(as_store(store), "ns", "b", PathScope(["app/0"])))
    await asyncio.sleep(0)
    rest = [
        asyncio.create_task(requests.request(as_store(store), "ns", "b", PathScope([f"app/{i}"])))
        for i in range(1, 40)
    ]
    other = asyncio.create_task(requests.request(as_store(store), "ns", "c", PathScope(["x"])))
    answers = await asyncio.gather(first, *rest)
    await other
    assert store.writes[0] == PathScope(["app/0"])
    assert PathScope([f"app/{i}" for i in range(1, 40)]) in store.writes
    assert len(store.writes) == 3  # app/0, then app/1..39 together, and backend c's own
    assert len({a.stamp for a in answers[1:]}) == 1 and answers[0].stamp != answers[1].stamp

    many = [
        requests.request(as_store(store), "ns", "b", PathScope([f"app/{i}"]))
        for i in range(2 * MAX_SCOPE_PATTERNS)
    ]
    store.writes.clear()
    await asyncio.gather(*many)
    assert store.writes == [None]  # together, more than a per-path sync takes: full


async def test_a_failed_write_fails_the_requests_it_carried_only() -> None:
    requests, store = SyncRequests(), SlowStore(fail=NotFoundError(404, "NotFound", "gone"))
    with pytest.raises(NotFoundError):
        await requests.request(as_store(store), "ns", "b", None)
    store.fail = ConflictError(409, "Conflict", "changed meanwhile")
    carried = [requests.request(as_store(store), "ns", "b", PathScope(["a"])) for _ in range(3)]
    results = await asyncio.gather(*carried, return_exceptions=True)
    assert all(isinstance(r, ConflictError) for r in results)
    store.fail = None
    done = await requests.request(as_store(store), "ns", "b", PathScope(["a"]))
    assert done.backend.name == "b"
