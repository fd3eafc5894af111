"""The operator's finalizer: added by the acting worker, and removed by it once a
deleted CR's Secrets are deleted or released as its deletionPolicy says; the same
for both kinds (a cluster backend's Secrets here are in the one namespace its
selector selects)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scaivault_federation.labels import FINALIZER, LEFTOVER_ANNOTATIONS, MANAGED_BY
from scaivault_federation.models.kind import KINDS, BackendKind
from scaivault_federation.sync.worker import TEARDOWN_RETRY, BackendWorker
from tests.unit.engine_fakes import NAMESPACE, SELECTED, World, unmanaged_secret


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> BackendKind:
    found: BackendKind = request.param
    return found


def world_of(kind: BackendKind, **cr: Any) -> World:
    """A backend of ``kind`` whose Secrets go to :data:`NAMESPACE`."""
    return World(kind=kind, namespaces={NAMESPACE: SELECTED}, finalizers=True, **cr)


async def started(world: World) -> tuple[BackendWorker, asyncio.Task[None]]:
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)
    return worker, task


def finalizers(world: World) -> list[str]:
    return list(world.cr["metadata"].get("finalizers") or [])


async def test_the_acting_worker_adds_the_finalizer_once(kind: BackendKind) -> None:
    world = world_of(kind)
    _, task = await started(world)

    assert finalizers(world) == [FINALIZER] and world.syncs == 1
    world.request_sync("2026-01-01T00:00:00Z")
    await world.clock.settle(task)
    assert world.syncs == 2 and world.statuses.finalizer_writes == 1
    task.cancel()


async def test_a_deleted_cr_with_delete_policy_loses_its_secrets_then_the_finalizer(
    kind: BackendKind,
) -> None:
    world = world_of(kind, deletionPolicy="Delete")
    world.store.put(NAMESPACE, unmanaged_secret("keep", {"value": b"theirs"}))
    _, task = await started(world)
    assert world.store.names(NAMESPACE) == ["app-db", "keep"]

    world.start_deleting()
    await world.clock.settle(task)

    assert task.done() and task.exception() is None
    assert world.store.names(NAMESPACE) == ["keep"]
    assert finalizers(world) == []


async def test_a_deleted_cr_with_retain_policy_leaves_its_secrets_unmanaged(
    kind: BackendKind,
) -> None:
    world = world_of(kind)  # Retain is the default
    _, task = await started(world)

    world.start_deleting()
    await world.clock.settle(task)

    assert task.done() and finalizers(world) == []
    secret = world.store.secret(NAMESPACE, "app-db")
    assert secret is not None and MANAGED_BY not in secret.labels
    assert secret.data == {"value": b"pw-1"}


async def test_a_replica_that_does_not_act_on_the_cr_leaves_the_teardown_to_its_owner(
    kind: BackendKind,
) -> None:
    world = world_of(kind, deletionPolicy="Delete")
    _, task = await started(world)
    owner = {"here": False}
    world.deps.owns = lambda uid: owner["here"]
    world.start_deleting()
    await world.clock.settle(task)
    assert not task.done() and finalizers(world) == [FINALIZER]
    assert world.store.names(NAMESPACE) == ["app-db"]

    owner["here"] = True  # the owner died: this replica acts now
    world.clock.advance(TEARDOWN_RETRY)
    await world.clock.settle(task)

    assert task.done() and finalizers(world) == [] and world.store.names(NAMESPACE) == []


async def test_a_cr_deleted_before_any_finalizer_is_left_alone(kind: BackendKind) -> None:
    world = world_of(kind, deleting=True)
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)

    assert task.done() and world.connector.calls == 0 and world.statuses.finalizer_writes == 0


async def test_an_invalid_deletion_policy_retains_and_loses_nothing(kind: BackendKind) -> None:
    world = world_of(kind, deletionPolicy="Delete")
    _, task = await started(world)
    world.edit_spec(deletionPolicy="Destroy")  # the models refuse it (an older CRD did not)
    await world.clock.settle(task)
    assert world.statuses.last.message and "deletionPolicy" in world.statuses.last.message

    world.start_deleting()
    await world.clock.settle(task)

    assert task.done() and finalizers(world) == []
    secret = world.store.secret(NAMESPACE, "app-db")
    assert secret is not None and MANAGED_BY not in secret.labels  # released, not deleted


async def test_annotations_an_earlier_operator_left_go_with_the_finalizer_kept(
    kind: BackendKind,
) -> None:
    """A CR kopf once handled: its finalizer is ours already, its annotations are not."""
    leftovers = dict.fromkeys(LEFTOVER_ANNOTATIONS, "{}")
    world = world_of(kind, annotations={**leftovers, "example.com/theirs": "kept"})
    world.cr["metadata"]["finalizers"] = [FINALIZER]
    _, task = await started(world)

    assert world.cr["metadata"]["annotations"] == {"example.com/theirs": "kept"}
    assert finalizers(world) == [FINALIZER] and world.statuses.finalizer_writes == 1
    task.cancel()
