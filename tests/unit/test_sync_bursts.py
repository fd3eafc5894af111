"""Bursts of manual-sync requests: those a worker sees while a sync runs become one next
sync of their paths together, each once; more paths than a per-path sync takes become
one full sync; and the API writes the requests of one backend made at once together."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scaivault_federation.api.sync_requests import SyncRequests
from scaivault_federation.backends.base import BatchResult
from scaivault_federation.k8s.backend_store import BackendStore
from scaivault_federation.k8s.client import ConflictError, NotFoundError
from scaivault_federation.labels import SYNC_PATHS_ANNOTATION, SYNC_REQUESTED_ANNOTATION
from scaivault_federation.models.kind import FEDERATION_BACKEND
from scaivault_federation.models.resource import (
    FederationBackendResource,
    merged_request,
    sync_paths_to_set,
    sync_paths_value,
)
from scaivault_federation.paths import MAX_SCOPE_PATTERNS, PathScope
from scaivault_federation.sync.pending_requests import BURST_QUIET, BURST_WAIT, PendingRequests
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
    """Holds every read of the connections made while it is closed (a per-path sync's
    first call: it reads its paths to learn whether they exist)."""

    def __init__(self, world: World) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.read: list[list[str]] = []
        connect = world.connector.__call__

        async def gated(*args: Any) -> FakeConnection:
            connection = await connect(*args)
            read = connection.get_many

            async def held(
                paths: Sequence[str], versions: Mapping[str, str] | None = None
            ) -> BatchResult:
                self.read.append(sorted(paths))
                await self.open.wait()
                return await read(paths, versions)

            connection.get_many = held  # type: ignore[method-assign]
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
        gate.read.clear()  # the first, full sync's
        gate.open.clear()
        world.request_sync(stamp(1), ["app/s0"])
        await spin()
        assert gate.read == [["prod/s0"]]  # the sync of app/s0 is under way
        # each request replaces the annotations (no writer merged them): none is lost
        world.request_sync(stamp(2), ["app/s1"])
        world.request_sync(stamp(3), ["app/s2", "app/s1"])
        world.request_sync(stamp(4), ["app/s3"])
        gate.open.set()
        await world.clock.settle()
    assert gate.read == [["prod/s0"], ["prod/s1", "prod/s2", "prod/s3"]]
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
        gate.read.clear()  # the first, full sync's
        gate.open.clear()
        world.request_sync(stamp(0), ["app/s0"])
        await spin()
        for i in range(1, size):
            world.server.set(f"prod/s{i}", "2")
            world.request_sync(stamp(i), [f"app/s{i}"])
        gate.open.set()
        await world.clock.settle()
        assert world.syncs == listings  # the burst's full sync waits for it to quiet
        world.clock.advance(BURST_QUIET)
        await world.clock.settle()
    # then no per-path read: one listing of everything, reading what changed
    assert gate.read[0] == ["prod/s0"]
    assert sorted(p for part in gate.read[1:] for p in part) == sorted(
        f"prod/s{i}" for i in range(1, size)
    )
    assert world.syncs == listings + 1
    assert len(world.statuses.written) == syncs + 2
    assert world.store.data("team-a")[f"app-s{size - 1}"] == {"value": b"2"}


def test_a_burst_past_a_per_path_sync_waits_to_quiet_but_not_for_long() -> None:
    pending = PendingRequests()
    pending.add(PathScope(["app/a"]), now=10.0)
    assert pending.ready_at() == 0.0  # a per-path sync: at once
    for i in range(MAX_SCOPE_PATTERNS):
        pending.add(PathScope([f"app/{i}"]), now=10.5)
    assert pending.ready_at() == 10.5 + BURST_QUIET
    for moment in (10.6, 11.0, 11.5, 12.0, 12.4):  # it goes on
        pending.add(PathScope([f"more/{moment}"]), now=moment)
    assert pending.ready_at() == 10.5 + BURST_WAIT
    pending.add(None, now=12.45)  # a full sync asked for: at once
    assert pending.ready_at() == 0.0 and pending.take() is None


# --- the API: one write per backend at a time ------------------------------------------


@dataclass
class SlowStore:
    """A backend's store whose writes take a moment; it records what each one asked."""

    writes: list[PathScope | None] = field(default_factory=list)
    known: list[FederationBackendResource | None] = field(default_factory=list)
    fail: Exception | None = None
    kind = FEDERATION_BACKEND

    async def request_sync(
        self,
        namespace: str,
        name: str,
        stamp: str,
        paths: PathScope | None = None,
        *,
        known: FederationBackendResource | None = None,
    ) -> FederationBackendResource:
        self.writes.append(paths)
        self.known.append(known)
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


# --- requests merged by the API --------------------------------------------------------


def resource_with(notes: dict[str, str], last_sync: str | None = None) -> FederationBackendResource:
    obj = backend_object(annotations=notes)
    if last_sync is not None:
        obj["status"] = {"lastSync": last_sync}
    return FederationBackendResource.from_object(obj)


def test_a_request_merged_into_a_pending_one_says_which_and_its_own_paths() -> None:
    now = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
    first = stamp(1)
    pending = resource_with(
        {SYNC_REQUESTED_ANNOTATION: first, SYNC_PATHS_ANNOTATION: sync_paths_value(first, ["a"])}
    )
    value = sync_paths_to_set(pending, PathScope(["b"]), stamp(2), now)
    assert value is not None and json.loads(value) == {
        "requestedAt": stamp(2),
        "paths": ["a", "b"],
        "merged": first,
        "added": ["b"],
    }
    merged = resource_with({SYNC_REQUESTED_ANNOTATION: stamp(2), SYNC_PATHS_ANNOTATION: value})
    assert merged.sync_paths == PathScope(["a", "b"])
    assert merged.sync_paths_since(first) == PathScope(["b"])  # a worker that saw the first
    assert merged.sync_paths_since(None) == PathScope(["a", "b"])  # one that did not
    assert merged.sync_paths_since(stamp(0)) == PathScope(["a", "b"])

    # merged into a pending full sync: still full, with its own paths said
    full = resource_with({SYNC_REQUESTED_ANNOTATION: first})
    value = sync_paths_to_set(full, PathScope(["c"]), stamp(3), now)
    assert value is not None
    merged = resource_with({SYNC_REQUESTED_ANNOTATION: stamp(3), SYNC_PATHS_ANNOTATION: value})
    assert merged.sync_paths is None
    assert merged.sync_paths_since(first) == PathScope(["c"])
    # nothing pending: the request alone
    handled = resource_with({SYNC_REQUESTED_ANNOTATION: first}, last_sync="2026-03-01T12:01:00Z")
    later = now + timedelta(minutes=1)
    assert sync_paths_to_set(handled, PathScope(["d"]), stamp(4), later) == sync_paths_value(
        stamp(4), ["d"]
    )
    assert sync_paths_to_set(handled, None, stamp(4), later) is None


async def test_a_worker_syncs_only_the_paths_a_merged_request_adds() -> None:
    world = World(
        remote={f"prod/s{i}": "1" for i in range(5)},
        pathMapping={"app/**": "prod/**"},
        syncInterval="1h",
    )
    gate = Gate(world)
    async with running(world):
        gate.read.clear()  # the first, full sync's
        world.request_sync(stamp(1), ["app/s1"])
        await world.clock.settle()
        # the API merged the next request into the first (its sync's status was not
        # written yet when it came): the worker saw the first, so it reads s2 alone
        notes = world.cr["metadata"]["annotations"]
        notes[SYNC_REQUESTED_ANNOTATION] = stamp(2)
        notes[SYNC_PATHS_ANNOTATION] = sync_paths_value(
            stamp(2), ["app/s1", "app/s2"], merged=stamp(1), added=["app/s2"]
        )
        world.statuses.changed(world.cr)
        await world.clock.settle()
    assert gate.read == [["prod/s1"], ["prod/s2"]]
