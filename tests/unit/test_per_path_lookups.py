"""A per-path sync asks the backend about its own paths only: concrete paths are
read without listing anything (the read tells whether they exist), a pattern lists
only the prefix it narrows each mapping to, and a path gone remotely is orphaned or
pruned as a full sync would, decided without listing anything else."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaivault_federation.backends.base import CallCounter, CallResult, RemoteSecretRef
from scaivault_federation.backends.errors import (
    AuthenticationError,
    BackendUnavailableError,
    InvalidBackendConfigError,
)
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.paths import PathScope, parse_mappings
from scaivault_federation.sync.plan import map_remote
from scaivault_federation.sync.remote_scope import RemoteScope, remote_refs, remote_scope
from scaivault_federation.sync.service import SyncContext, run_sync
from tests.unit.engine_fakes import MemorySecretStorage, World

KEY = b"k" * 32
NS = "ns"


class ListingBackend(FakeBackend):
    """A fake store that notes the prefixes it is asked to list."""

    def __init__(self, secrets: dict[str, Any], **kw: Any) -> None:
        super().__init__(secrets, **kw)
        self.listed: list[str] = []

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        self.listed.append(prefix)
        return await super().list_secrets(prefix)


def spec(mapping: dict[str, str], **extra: Any) -> BackendSpec:
    return BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1"},
            "pathMapping": mapping,
            "mode": "sync",
            "syncInterval": "1h",
            **extra,
        }
    )


def ctx(
    backend: FakeBackend,
    store: MemorySecretStorage,
    paths: list[str] | None = None,
    mapping: dict[str, str] | None = None,
    **extra: Any,
) -> SyncContext:
    return SyncContext(
        NS,
        "b",
        spec(mapping or {"app/**": "prod/**"}, **extra),
        backend,
        store,
        KEY,
        paths=PathScope(paths) if paths is not None else None,
    )


async def synced(
    secrets: dict[str, Any], mapping: dict[str, str] | None = None, **extra: Any
) -> tuple[ListingBackend, MemorySecretStorage]:
    """A store of ``secrets`` after a full sync, its counts reset."""
    backend = ListingBackend(secrets, batch_size=20)
    store = MemorySecretStorage()
    await run_sync(ctx(backend, store, mapping=mapping, **extra))
    backend.calls.reset()
    backend.listed.clear()
    store.reset_counts()
    return backend, store


async def test_a_concrete_path_is_read_once_with_no_listing_whatever_the_size() -> None:
    for size in (10, 2000):
        backend, store = await synced({f"prod/s{i:05d}": "1" for i in range(size)})
        backend.set("prod/s00007", "2")
        outcome = await run_sync(ctx(backend, store, ["app/s00007"]))
        assert store.written == ["app-s00007"]
        assert backend.listed == []
        assert backend.calls.snapshot() == {("batch_read", "ok"): 1}
        assert outcome.secrets_synced == size  # still the backend's figure
        # nor are the backend's Secrets listed: those of its path, and a count
        assert store.calls["list_managed"] == 0 and store.calls["managed_at"] == 1


async def test_a_vanished_path_is_orphaned_or_pruned_without_listing() -> None:
    for prune in (False, True):
        backend, store = await synced({"prod/a": "1", "prod/b": "1"}, prune=prune)
        backend.delete("prod/a")
        backend.delete("prod/b")  # gone too, but not asked about
        outcome = await run_sync(ctx(backend, store, ["app/a"], prune=prune))
        assert backend.listed == []
        assert backend.calls.snapshot() == {("batch_read", "ok"): 1}  # it read nothing
        assert (store.deleted if prune else store.marked_orphaned) == ["app-a"]
        assert (outcome.deleted, outcome.orphaned) == ((1, 0) if prune else (0, 1))
        kept = store.secret(NS, "app-b")
        assert kept is not None and not kept.orphaned
        assert outcome.secrets_synced == 1  # app/b, as the last sync left it


async def test_a_pattern_lists_only_its_own_prefix_and_looks_up_its_bare_path() -> None:
    backend, store = await synced({"prod/web/x": "1", "prod/web/y/z": "1", "prod/db": "1"})
    for path in ("prod/web/x", "prod/web/y/z", "prod/db"):
        backend.set(path, "2")
    await run_sync(ctx(backend, store, ["app/web/**"]))
    assert backend.listed == ["prod/web/"]
    # and the one path it matches outside that prefix, app/web, is looked up (read)
    assert backend.calls.snapshot() == {("list", "ok"): 1, ("batch_read", "ok"): 2}
    assert sorted(store.written) == ["app-web-x", "app-web-y-z"]


async def test_a_pattern_inside_a_segment_lists_the_segment_start() -> None:
    backend, store = await synced({"prod/db-a": "1", "prod/db-b": "1", "prod/dbx": "1"})
    for path in ("prod/db-a", "prod/db-b", "prod/dbx"):
        backend.set(path, "2")
    await run_sync(ctx(backend, store, ["app/db-*"]))
    assert backend.listed == ["prod/db-"]
    assert sorted(store.written) == ["app-db-a", "app-db-b"]


def test_what_each_kind_of_mapping_asks_for() -> None:
    mappings = parse_mappings(
        {
            "app/**": "prod/**",
            "app/special": "elsewhere/special",
            "team/*/cfg": "teams/*/config",
            "other/**": "o/**",
        }
    )
    asked = remote_scope(mappings, PathScope(["app/special", "app/web/**", "team/a/cfg"]))
    # a concrete path: what each mapping that maps it gives it (one covered by a
    # listed prefix needs no look-up of its own); a pattern: its prefix through the
    # subtree mapping, the own prefix of one that is not, none through "other/**", and
    # the one path it matches outside its prefix ("app/web/**" matches "app/web")
    assert asked == RemoteScope(
        ("prod/web/",), ("elsewhere/special", "prod/special", "prod/web", "teams/a/config")
    )
    everything = remote_scope(mappings, PathScope(["**"]))
    assert everything == remote_scope(mappings)
    assert everything == RemoteScope(("o/", "prod/", "teams/"), ("elsewhere/special",))


async def test_an_explicit_mapping_wins_over_a_wildcard_one_as_in_a_full_sync() -> None:
    mapping = {"app/**": "prod/**", "app/db": "special/db"}
    backend, store = await synced({"prod/db": "wild", "special/db": "explicit"}, mapping)
    assert store.data(NS)["app-db"] == {"value": b"explicit"}
    backend.set("special/db", "explicit-2")
    outcome = await run_sync(ctx(backend, store, ["app/db"], mapping=mapping))
    assert store.data(NS)["app-db"] == {"value": b"explicit-2"}
    assert [(c.path, c.remote_path) for c in outcome.conflicts] == [("app/db", "prod/db")]
    assert backend.calls.snapshot() == {("batch_read", "ok"): 1}  # both, in one batch


async def test_a_store_down_or_refusing_everything_fails_the_sync_and_writes_nothing() -> None:
    for error in (BackendUnavailableError("down"), AuthenticationError("refused")):
        backend, store = await synced({"prod/a": "1", "prod/b": "1"})
        backend.delete("prod/a")
        backend.fail_with = error
        with pytest.raises(type(error)):
            await run_sync(ctx(backend, store, ["app/a", "app/b"]))
        assert store.calls == {} or set(store.calls) == {"list_managed"}
        kept = store.secret(NS, "app-a")
        assert kept is not None and not kept.orphaned


async def test_a_path_that_cannot_be_described_fails_alone() -> None:
    backend, store = await synced({"prod/a": "1", "prod/b": "1"})
    backend.set("prod/a", "2")
    backend.set("prod/b", "2")
    backend.fail_paths["prod/b"] = InvalidBackendConfigError("no such name here")
    outcome = await run_sync(ctx(backend, store, ["app/a", "app/b"]))
    assert store.written == ["app-a"]
    assert list(outcome.item_errors) == ["app/b"]
    assert store.marked_orphaned == []


# --- per-path look-ups find what a full listing finds -------------------------------------

MAPPINGS = (
    ("app/**", "prod/**"),
    ("app/db", "special/db"),
    ("app/*/x", "deep/*/y"),
    ("**", "all/**"),
    ("app/web-*", "web/w-*"),
    ("team/**/cfg", "t/**/c"),
    ("app/**", "all/app/**"),
)
SEGMENTS = ("prod", "special", "deep", "all", "web", "t", "app", "db", "x", "y", "w-1", "c", "a")
ENTRIES = (
    "app/db",
    "app/a",
    "app/a/x",
    "app/web-1",
    "db",
    "team/a/cfg",
    "app/web/**",
    "app/*",
    "app/web-*",
    "**",
    "app/*/x",
    "team/**",
    "a*/**",
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chosen=st.lists(st.sampled_from(MAPPINGS), min_size=1, max_size=4, unique_by=lambda m: m[0]),
    remote=st.sets(
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map("/".join), max_size=25
    ),
    entries=st.lists(st.sampled_from(ENTRIES), min_size=1, max_size=3),
)
def test_per_path_look_ups_map_as_the_full_listing_does(
    chosen: list[tuple[str, str]], remote: set[str], entries: list[str]
) -> None:
    mappings = parse_mappings(dict(chosen))
    scope = PathScope(entries)
    backend = FakeBackend(dict.fromkeys(remote, "v"))
    listed = asyncio.run(remote_refs(backend, remote_scope(mappings), describe=True))
    full = map_remote(mappings, listed)
    refs = asyncio.run(remote_refs(backend, remote_scope(mappings, scope), describe=True))
    assert set(refs) <= remote
    narrow = map_remote(mappings, refs)
    assert {r: p for r, p in narrow.local_by_remote.items() if scope.matches(p)} == {
        r: p for r, p in full.local_by_remote.items() if scope.matches(p)
    }
    assert [c for c in narrow.conflicts if scope.matches(c.path)] == [
        c for c in full.conflicts if scope.matches(c.path)
    ]


# --- the worker ----------------------------------------------------------------------------


async def test_a_per_path_sync_makes_no_probe_once_the_client_has_one() -> None:
    world = World(remote={"prod/a": "1", "prod/b": "1"}, pathMapping={"app/**": "prod/**"})
    worker = world.worker(watch=False)
    await worker.step(world.resource())  # the first sync: full, with its probe
    connection = world.connector.current
    connected = world.statuses.last.connection
    assert connected is not None and connected.latency_ms is not None
    connection.calls = kept = KeptCalls()

    world.clock.advance(5)
    world.server.set("prod/a", "2")
    world.request_sync("2026-03-01T12:00:05Z", ["app/a"])
    await worker.step(world.resource())
    assert world.connector.current is connection
    assert kept.made == {("read", "ok"): 1}
    assert world.store.data("team-a")["app-a"] == {"value": b"2"}
    assert world.statuses.last.connection == connected.model_copy(
        update={"checked_at": world.clock.now()}
    )

    # a fresh client (after a failure closed it) probes first, even for some paths
    await worker.close()
    world.request_sync("2026-03-01T12:00:06Z", ["app/b"])
    kept.made.clear()
    connect = world.connector.__call__

    async def keeping(*args: Any) -> Any:
        fresh = await connect(*args)
        fresh.calls = kept
        return fresh

    world.deps.connect = keeping
    await worker.step(world.resource())
    assert kept.made == {("probe", "ok"): 1, ("read", "ok"): 1}


class KeptCalls(CallCounter):
    """A call counter that also keeps every call past the worker's draining of it."""

    def __init__(self) -> None:
        super().__init__()
        self.made: Counter[tuple[str, str]] = Counter()

    def record(self, operation: str, result: CallResult) -> None:
        super().record(operation, result)
        self.made[(operation, result)] += 1
