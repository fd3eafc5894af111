"""The operator's finalizer: added by the acting worker, and removed by it once a
deleted CR's Secrets are deleted or released as its deletionPolicy says."""

from __future__ import annotations

import asyncio

from scaivault_federation.labels import FINALIZER, MANAGED_BY
from scaivault_federation.sync.worker import TEARDOWN_RETRY, BackendWorker
from tests.unit.engine_fakes import NAMESPACE, World, unmanaged_secret


async def started(world: World) -> tuple[BackendWorker, asyncio.Task[None]]:
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)
    return worker, task


def finalizers(world: World) -> list[str]:
    return list(world.cr["metadata"].get("finalizers") or [])


async def test_the_acting_worker_adds_the_finalizer_once() -> None:
    world = World(finalizers=True)
    _, task = await started(world)

    assert finalizers(world) == [FINALIZER] and world.syncs == 1
    world.request_sync("2026-01-01T00:00:00Z")
    await world.clock.settle(task)
    assert world.syncs == 2 and world.statuses.finalizer_writes == 1
    task.cancel()


async def test_a_deleted_cr_with_delete_policy_loses_its_secrets_then_the_finalizer() -> None:
    world = World(finalizers=True, deletionPolicy="Delete")
    world.store.put(NAMESPACE, unmanaged_secret("keep", {"value": b"theirs"}))
    _, task = await started(world)
    assert world.store.names(NAMESPACE) == ["app-db", "keep"]

    world.start_deleting()
    await world.clock.settle(task)

    assert task.done() and task.exception() is None
    assert world.store.names(NAMESPACE) == ["keep"]
    assert finalizers(world) == []


async def test_a_deleted_cr_with_retain_policy_leaves_its_secrets_unmanaged() -> None:
    world = World(finalizers=True)  # Retain is the default
    _, task = await started(world)

    world.start_deleting()
    await world.clock.settle(task)

    assert task.done() and finalizers(world) == []
    secret = world.store.secret(NAMESPACE, "app-db")
    assert secret is not None and MANAGED_BY not in secret.labels
    assert secret.data == {"value": b"pw-1"}


async def test_a_replica_that_does_not_act_on_the_cr_leaves_the_teardown_to_its_owner() -> None:
    world = World(finalizers=True, deletionPolicy="Delete")
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


async def test_a_cr_deleted_before_any_finalizer_is_left_alone() -> None:
    world = World(finalizers=True, deleting=True)
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)

    assert task.done() and world.connector.calls == 0 and world.statuses.finalizer_writes == 0
