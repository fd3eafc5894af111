"""A sync of some paths only: what it reads, writes and leaves alone; the sync-paths
annotation; merging requests; and the worker keeping the full-sync schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.labels import (
    SYNC_PATHS_ANNOTATION,
    SYNC_REQUESTED_ANNOTATION,
)
from scaivault_federation.models.resource import (
    FederationBackendResource,
    ObjectMeta,
    paths_to_request,
    sync_paths_value,
)
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.models.status import BackendStatus, Conflict
from scaivault_federation.paths import InvalidPathError, PathScope
from scaivault_federation.sync.plan import ConflictReason
from scaivault_federation.sync.service import SyncContext, SyncOutcome, run_sync
from tests.unit.engine_fakes import MemorySecretStorage, World

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEY = b"k" * 32
NS = "ns"


def spec(**extra: Any) -> BackendSpec:
    return BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1"},
            "pathMapping": {"app/**": "prod/**"},
            "mode": "sync",
            "syncInterval": "1h",
            **extra,
        }
    )


def ctx(
    backend: FakeBackend, store: MemorySecretStorage, paths: list[str] | None = None, **extra: Any
) -> SyncContext:
    return SyncContext(
        NS,
        "aws",
        spec(**extra.pop("spec", {})),
        backend,
        store,
        KEY,
        paths=PathScope(paths) if paths is not None else None,
        **extra,
    )


async def first_sync(*paths: str, prune: bool = False) -> tuple[FakeBackend, MemorySecretStorage]:
    backend = FakeBackend({p: {"v": "1"} for p in paths}, batch_size=20)
    store = MemorySecretStorage()
    await run_sync(ctx(backend, store, spec={"prune": prune}))
    backend.calls.reset()
    store.reset_counts()
    return backend, store


async def test_only_the_requested_paths_are_read_and_written() -> None:
    backend, store = await first_sync("prod/a", "prod/b", "prod/c/d")
    backend.set("prod/a", {"v": "2"})
    backend.set("prod/b", {"v": "2"})  # changed too, but not asked for
    outcome = await run_sync(ctx(backend, store, ["app/a"]))
    assert store.written == ["app-a"]
    assert store.data(NS)["app-a"] == {"v": b"2"}
    assert store.data(NS)["app-b"] == {"v": b"1"}
    # the one path read, once: the read tells it exists (nothing listed, nothing described)
    assert backend.calls.snapshot() == {("batch_read", "ok"): 1}
    assert outcome.written == 1
    assert outcome.secrets_synced == 3  # the backend's figure, not the sync's
    assert outcome.paths == PathScope(["app/a"])


async def test_a_requested_path_is_read_even_when_its_listed_version_is_unchanged() -> None:
    backend, store = await first_sync("prod/a", "prod/b")
    outcome = await run_sync(ctx(backend, store, ["app/a"]))
    assert backend.calls.get("batch_read") == 1
    assert store.written == []  # same value: nothing written
    assert outcome.secrets_synced == 2


async def test_patterns_select_a_subtree() -> None:
    backend, store = await first_sync("prod/web/x", "prod/web/y", "prod/db")
    for path in ("prod/web/x", "prod/web/y", "prod/db"):
        backend.set(path, {"v": "2"})
    await run_sync(ctx(backend, store, ["app/web/**"]))
    assert sorted(store.written) == ["app-web-x", "app-web-y"]
    assert store.data(NS)["app-db"] == {"v": b"1"}


async def test_nothing_outside_the_paths_is_orphaned_or_pruned() -> None:
    for prune in (False, True):
        backend, store = await first_sync("prod/a", "prod/b", "prod/c", prune=prune)
        backend.delete("prod/b")
        backend.delete("prod/c")
        outcome = await run_sync(ctx(backend, store, ["app/c"], spec={"prune": prune}))
        kept = store.secret(NS, "app-b")
        assert kept is not None and not kept.orphaned
        if prune:
            assert store.deleted == ["app-c"] and outcome.deleted == 1
        else:
            assert store.marked_orphaned == ["app-c"] and outcome.orphaned == 1
        assert store.marked_orphaned + store.deleted == ["app-c"]


async def test_a_new_remote_secret_in_the_paths_is_created_others_wait() -> None:
    backend, store = await first_sync("prod/a")
    backend.set("prod/new", "n")
    backend.set("prod/other", "o")
    outcome = await run_sync(ctx(backend, store, ["app/new"]))
    assert store.written == ["app-new"]
    assert "app-other" not in store.names(NS)
    assert outcome.secrets_synced == 2


async def test_conflicts_outside_the_paths_are_kept_inside_they_are_recomputed() -> None:
    backend, store = await first_sync("prod/a", "prod/b")
    previous = [
        Conflict(
            path="app/b",
            remote_path="prod/b",
            reason=ConflictReason.LOCAL_EDIT.value,
            detected_at=NOW,
        ),
        Conflict(
            path="app/a",
            remote_path="prod/a",
            reason=ConflictReason.LOCAL_EDIT.value,
            detected_at=NOW,
        ),
    ]
    outcome = await run_sync(ctx(backend, store, ["app/a"], previous_conflicts=previous))
    assert [(c.path, c.reason) for c in outcome.conflicts] == [("app/b", ConflictReason.LOCAL_EDIT)]


async def test_a_path_the_backend_does_not_map_touches_nothing() -> None:
    backend, store = await first_sync("prod/a")
    backend.set("prod/a", "2")
    outcome = await run_sync(ctx(backend, store, ["elsewhere/a"]))
    assert store.written == [] and backend.calls.get("batch_read") == 0
    assert outcome.secrets_synced == 1


def test_scope_validation_names_the_entry() -> None:
    with pytest.raises(InvalidPathError, match="at least one"):
        PathScope([])
    with pytest.raises(InvalidPathError, match=r"^\[1\]: .*empty segment"):
        PathScope(["a/b", "a//b"])
    with pytest.raises(InvalidPathError, match="at most 100"):
        PathScope([f"p/{i}" for i in range(101)])
    scope = PathScope(["a/*", "b/**", "a/*"])
    assert scope.texts == ("a/*", "b/**")
    assert scope.matches("a/x") and scope.matches("b/x/y") and not scope.matches("a/x/y")
    assert not scope.matches("a//broken")


# --- the annotation ---------------------------------------------------------------------


def resource(
    annotations: dict[str, str] | None = None,
    last_sync: datetime | None = None,
    conflicts: list[Conflict] | None = None,
    generation: int = 1,
) -> FederationBackendResource:
    return FederationBackendResource(
        ObjectMeta(
            "aws", "ns", uid="u1", generation=generation, annotations=dict(annotations or {})
        ),
        spec(),
        BackendStatus(last_sync=last_sync, conflicts=conflicts or []),
    )


def requested(stamp: str, paths: list[str] | None, **kw: Any) -> FederationBackendResource:
    notes = {SYNC_REQUESTED_ANNOTATION: stamp}
    if paths is not None:
        notes[SYNC_PATHS_ANNOTATION] = sync_paths_value(stamp, paths)
    return resource(notes, **kw)


def test_sync_paths_apply_only_to_the_request_they_name() -> None:
    stamp = "2026-11-29T12:00:00.000001Z"
    assert requested(stamp, ["app/a"]).sync_paths == PathScope(["app/a"])
    stale = {
        SYNC_REQUESTED_ANNOTATION: "2026-11-29T12:05:00Z",
        SYNC_PATHS_ANNOTATION: sync_paths_value(stamp, ["app/a"]),
    }
    assert resource(stale).sync_paths is None  # e.g. Argo CD's refresh set only the stamp
    for broken in ("not json", "[]", json.dumps({"requestedAt": stamp, "paths": ["a//b"]})):
        notes = {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: broken}
        assert resource(notes).sync_paths is None
    notes = {SYNC_REQUESTED_ANNOTATION: stamp, SYNC_PATHS_ANNOTATION: f'["app/a"]{stamp}'}
    assert resource(notes).sync_paths is None


def test_a_pending_request_is_merged_not_replaced() -> None:
    stamp = "2026-11-29T11:59:00Z"
    new = PathScope(["app/b"])
    # pending (no sync since): paths are added; a pending full sync stays full
    merged = paths_to_request(requested(stamp, ["app/a"]), new, NOW)
    assert merged is not None and set(merged.texts) == {"app/a", "app/b"}
    assert paths_to_request(requested(stamp, None), new, NOW) is None
    # handled (a sync finished after it): replaced
    done = requested(stamp, ["app/a"], last_sync=NOW - timedelta(seconds=30))
    assert paths_to_request(done, new, NOW) == new
    # handled, but only just: still merged (the worker may not have read it yet)
    just = requested("2026-11-29T11:59:58Z", ["app/a"], last_sync=NOW - timedelta(seconds=1))
    merged = paths_to_request(just, new, NOW)
    assert merged is not None and set(merged.texts) == {"app/a", "app/b"}
    # too many together: a full sync
    many = requested(stamp, [f"app/{i}" for i in range(100)])
    assert paths_to_request(many, new, NOW) is None
    assert paths_to_request(resource(), new, NOW) == new


# --- the worker ---------------------------------------------------------------------------


async def test_a_per_path_trigger_syncs_at_once_and_keeps_the_full_schedule() -> None:
    world = World(
        remote={"prod/a": "1", "prod/b": "1"},
        pathMapping={"app/**": "prod/**"},
        syncInterval="1h",
    )
    store, clock = world.store, world.clock
    worker = world.worker(watch=False)
    await worker.step(world.resource())  # first sync: full
    assert sorted(store.written) == ["app-a", "app-b"]
    full_due = worker.due
    assert 3240 <= full_due - clock.monotonic() <= 3960

    clock.advance(60)
    world.server.set("prod/a", "2")
    world.server.set("prod/b", "2")
    store.reset_counts()
    world.request_sync("2026-03-01T12:01:00Z", ["app/a"])
    await worker.step(world.resource())
    assert store.written == ["app-a"]
    assert worker.due == full_due  # the next full sync did not move
    nxt = world.statuses.last.next_sync_at
    left = full_due - clock.monotonic()
    assert nxt is not None and abs((nxt - clock.now()).total_seconds() - left) < 2

    # the same request seen again (any later watch event) does nothing
    store.reset_counts()
    await worker.step(world.resource())
    assert store.written == []

    # a trigger without paths is a full sync, and moves the schedule
    world.request_sync("2026-03-01T12:02:00Z")
    await worker.step(world.resource())
    assert store.written == ["app-b"]
    assert worker.due != full_due


def test_outcome_defaults_to_a_full_sync() -> None:
    assert SyncOutcome().paths is None
