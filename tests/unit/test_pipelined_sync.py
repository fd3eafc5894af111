"""A large sync reads its paths a part at a time and writes each part while the next is
read; it must end exactly where reading everything first would have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from scaivault_federation.backends.base import BatchResult, RemoteSecretRef
from scaivault_federation.backends.errors import BackendUnavailableError
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.sync.plan import ConflictReason
from scaivault_federation.sync.read_parts import READ_AHEAD, READ_PART
from scaivault_federation.sync.service import SyncContext, SyncOutcome, run_sync
from tests.unit.engine_fakes import MAC_KEY, NAME, NAMESPACE, MemorySecretStorage, spec_of

MAPPING = {"app/**": "prod/**"}


class Timeline:
    """What happened in which order: reads begun and ended, Secrets written."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.reads_in_flight = 0
        self.most_reads_in_flight = 0

    def index(self, kind: str, nth: int = 0) -> int:
        found = [i for i, (k, _) in enumerate(self.events) if k == kind]
        return found[nth]


class TimedBackend(FakeBackend):
    """A FakeBackend whose batch reads take a little while and are recorded."""

    def __init__(self, secrets: Mapping[str, Any], timeline: Timeline, **kw: Any) -> None:
        super().__init__(secrets, **kw)
        self.timeline = timeline
        self.part_sizes: list[int] = []
        self.fail_on_call: int | None = None

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        call = len(self.part_sizes)
        self.part_sizes.append(len(paths))
        self.timeline.events.append(("read-start", call))
        self.timeline.reads_in_flight += 1
        self.timeline.most_reads_in_flight = max(
            self.timeline.most_reads_in_flight, self.timeline.reads_in_flight
        )
        try:
            await asyncio.sleep(0.01)
            if self.fail_on_call == call:
                raise BackendUnavailableError("the store went away")
            return await super().get_many(paths, versions)
        finally:
            self.timeline.reads_in_flight -= 1
            self.timeline.events.append(("read-end", call))


class TimedStorage(MemorySecretStorage):
    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    async def write_synced(self, namespace: str, name: str, **write: Any) -> None:
        await asyncio.sleep(0)
        await super().write_synced(namespace, name, **write)
        self.timeline.events.append(("write", len(self.written)))


def remote(n: int) -> dict[str, str]:
    return {f"prod/s{i:05d}": f"value-{i}" for i in range(n)}


async def sync(backend: FakeBackend, store: MemorySecretStorage, **spec: Any) -> SyncOutcome:
    ctx = SyncContext(
        NAMESPACE, NAME, spec_of(pathMapping=MAPPING, **spec), backend, store, MAC_KEY
    )
    return await run_sync(ctx)


async def test_writes_begin_before_the_last_part_is_read() -> None:
    n = READ_PART * 5 + 17
    timeline = Timeline()
    backend, store = TimedBackend(remote(n), timeline, batch_size=20), TimedStorage(timeline)

    outcome = await sync(backend, store)

    assert outcome.written == n and outcome.secrets_synced == n and outcome.item_errors == {}
    assert backend.part_sizes == [READ_PART] * 5 + [17]
    last_read = len(backend.part_sizes) - 1
    assert timeline.index("write") < timeline.index("read-start", last_read)
    # a few parts read ahead, never the whole listing at once
    assert timeline.most_reads_in_flight == READ_AHEAD + 1
    assert len(store.names(NAMESPACE)) == n


async def test_a_name_collision_across_parts_ends_as_if_read_at_once() -> None:
    # "app/a-b" sorts before "app/a/b" and is the last path of the first part.
    secrets = {f"prod/a-a{i:03d}": "filler" for i in range(READ_PART - 1)}
    secrets.update({"prod/a-b": "dash", "prod/a/b": "slash"})
    timeline = Timeline()
    backend, store = TimedBackend(secrets, timeline), TimedStorage(timeline)

    outcome = await sync(backend, store)

    assert len(backend.part_sizes) == 2
    assert [(c.path, c.reason) for c in outcome.conflicts] == [
        ("app/a/b", ConflictReason.NAME_COLLISION)
    ]
    assert store.secret(NAMESPACE, "app-a-b") is not None
    assert store.data(NAMESPACE)["app-a-b"] == {"value": b"dash"}
    assert outcome.secrets_synced == READ_PART


async def test_a_store_lost_mid_sync_deletes_nothing() -> None:
    n = READ_PART * 3
    timeline = Timeline()
    backend, store = TimedBackend(remote(n), timeline), TimedStorage(timeline)
    first = await sync(backend, store, prune=True)
    assert first.written == n
    for i in range(n):  # every value changes; one path is gone from the store
        backend.set(f"prod/s{i:05d}", f"value-{i}-new")
    backend.delete("prod/s00000")
    backend.part_sizes.clear()
    backend.fail_on_call = 1

    with pytest.raises(BackendUnavailableError):
        await sync(backend, store, prune=True)

    data = store.data(NAMESPACE)
    assert len(data) == n  # the Secret of the vanished path is still there
    assert data["app-s00000"] == {"value": b"value-0"}
    assert data["app-s00001"] == {"value": b"value-1-new"}  # the first part was written
    assert data[f"app-s{n - 1:05d}"] == {"value": f"value-{n - 1}".encode()}


async def test_a_small_sync_reads_once() -> None:
    timeline = Timeline()
    backend, store = TimedBackend(remote(3), timeline), TimedStorage(timeline)

    outcome = await sync(backend, store)

    assert backend.part_sizes == [3] and outcome.written == 3


# --- a listing in pages ------------------------------------------------------------------


class PagedBackend(FakeBackend):
    """A store listing ``page_size`` secrets a page, in the order given (not sorted);
    while :attr:`gated`, each page after the first only once let through
    (:attr:`next_page`)."""

    def __init__(self, secrets: dict[str, str], order: list[str], page_size: int) -> None:
        super().__init__(secrets, page_size=page_size)
        self.order = order
        self.next_page = asyncio.Event()
        self.pages_given = 0
        self.gated = True
        self.fail_after: int | None = None

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        refs = {r.path: r for r in await self.list_secrets(prefix)}
        ordered = [refs[p] for p in self.order if p in refs]
        size = self.page_size or len(ordered)
        for start in range(0, len(ordered), size):
            if self.pages_given and self.gated:
                await self.next_page.wait()
                self.next_page.clear()
            if self.fail_after is not None and self.pages_given >= self.fail_after:
                raise BackendUnavailableError("the store went away")
            self.pages_given += 1
            yield ordered[start : start + size]


async def until(check: Any, rounds: int = 500) -> None:
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never")


HALF = READ_PART // 2


async def test_the_first_pages_are_written_while_the_store_lists_the_rest() -> None:
    secrets = remote(3 * HALF)
    backend = PagedBackend(secrets, sorted(secrets), page_size=HALF)
    store = MemorySecretStorage()
    syncing = asyncio.create_task(sync(backend, store))
    await until(lambda: len(store.written) == HALF)
    assert backend.pages_given == 1  # the first page's Secrets, the rest still listing
    for _ in range(2):
        backend.next_page.set()
        await until(lambda: backend.pages_given > 1 and not backend.next_page.is_set())
    outcome = await syncing
    assert outcome.written == 3 * HALF and outcome.secrets_synced == 3 * HALF
    assert backend.calls.get("list") == 1


async def test_paths_that_may_collide_wait_for_the_whole_listing() -> None:
    # "app/a/b" comes on the first page, "app/a-b" (the same Secret name, and first by
    # local path) on the last: the end is as if both were planned at once
    alone = [f"prod/c{i:03d}" for i in range(HALF)]
    secrets = {**dict.fromkeys(alone, "c"), "prod/a/b": "slash", "prod/a-b": "dash"}
    order = ["prod/a/b", *alone, "prod/a-b"]
    backend = PagedBackend(secrets, order, page_size=HALF + 1)
    store = MemorySecretStorage()
    syncing = asyncio.create_task(sync(backend, store))
    await until(lambda: len(store.written) == HALF)  # those alone, written at once
    assert "app-a-b" not in store.written
    backend.next_page.set()
    outcome = await syncing
    assert store.data(NAMESPACE)["app-a-b"] == {"value": b"dash"}
    assert [(c.path, c.reason) for c in outcome.conflicts] == [
        ("app/a/b", ConflictReason.NAME_COLLISION)
    ]


async def test_a_listing_failing_part_way_keeps_its_first_writes_and_orphans_nothing() -> None:
    secrets = remote(2 * HALF)
    backend = PagedBackend(secrets, sorted(secrets), page_size=HALF)
    store = MemorySecretStorage()
    backend.gated = False
    await sync(backend, store, prune=True)
    backend.gated = True
    for path in secrets:
        backend.set(path, "changed")
    last = f"prod/s{2 * HALF - 1:05d}"
    backend.delete(last)
    backend.pages_given, backend.fail_after = 0, 1
    syncing = asyncio.create_task(sync(backend, store, prune=True))
    await until(lambda: store.written.count("app-s00000") == 2)
    backend.next_page.set()
    with pytest.raises(BackendUnavailableError):
        await syncing
    data = store.data(NAMESPACE)
    assert data["app-s00000"] == {"value": b"changed"}  # from the first page: its value
    # gone remotely: kept, not orphaned
    assert data[f"app-s{2 * HALF - 1:05d}"] == {"value": f"value-{2 * HALF - 1}".encode()}
    assert store.deleted == [] and store.marked_orphaned == []
