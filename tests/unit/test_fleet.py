"""The fleet of workers: one per CR, started by its first event, stopped when it goes."""

from __future__ import annotations

import asyncio

from scaivault_federation.models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource
from scaivault_federation.sync.fleet import Fleet
from scaivault_federation.sync.worker import BackendWorker
from tests.unit.engine_fakes import HOME, NAMESPACE, SELECTED, World, backend_object


async def settle(world: World, fleet: Fleet) -> None:
    """Run the loop until every worker sleeps (or none is left)."""
    for _ in range(500):
        await asyncio.sleep(0)
        if world.clock.idle or not fleet.workers:
            break
    for _ in range(20):  # and let ended tasks finish
        await asyncio.sleep(0)


async def test_the_first_event_starts_a_worker_and_later_ones_wake_it() -> None:
    world = World()
    fleet = Fleet(world.deps)
    fleet.observe(world.resource())
    await settle(world, fleet)
    assert len(fleet) == 1 and world.syncs == 1
    worker = fleet.workers[(NAMESPACE, world.cr["metadata"]["name"])]

    world.request_sync("2026-01-01T00:00:00Z")
    fleet.observe(world.resource())
    await settle(world, fleet)

    assert fleet.workers[(NAMESPACE, world.cr["metadata"]["name"])] is worker
    assert world.syncs == 2
    await fleet.stop()
    assert len(fleet) == 0 and world.connector.current.closed


async def test_a_cr_being_deleted_gets_no_worker_and_stops_its_own() -> None:
    world = World()
    fleet = Fleet(world.deps)
    fleet.observe(world.resource())
    await settle(world, fleet)

    world.start_deleting()
    fleet.observe(world.resource())
    await settle(world, fleet)
    assert len(fleet) == 0 and world.connector.current.closed

    fleet.observe(world.resource())  # another event of the CR on its way out
    await settle(world, fleet)
    assert len(fleet) == 0 and world.syncs == 1


async def test_a_cr_made_again_under_its_name_gets_a_new_worker() -> None:
    world = World()
    fleet = Fleet(world.deps)
    name = world.cr["metadata"]["name"]
    fleet.observe(world.resource())
    await settle(world, fleet)
    first = fleet.workers[(NAMESPACE, name)]

    fleet.forget(NAMESPACE, name)  # the DELETED event
    world.cr["metadata"]["uid"] = "another-uid"
    world.cr.pop("status", None)  # a new CR has none
    fleet.observe(world.resource())  # created again at once
    await settle(world, fleet)

    assert fleet.workers[(NAMESPACE, name)] is not first
    assert world.syncs == 2
    await fleet.stop()


async def test_a_worker_that_fails_unexpectedly_runs_again() -> None:
    world = World()
    fleet = Fleet(world.deps, restart_delay=0)
    runs: list[int] = []
    original = BackendWorker.run

    async def flaky(self: BackendWorker, resource: FederationBackendResource | None = None) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a defect")
        await original(self, resource)

    BackendWorker.run = flaky  # type: ignore[method-assign]
    try:
        fleet.observe(world.resource())
        await settle(world, fleet)
        assert len(runs) == 2 and len(fleet) == 1 and world.syncs == 1
    finally:
        BackendWorker.run = original  # type: ignore[method-assign]
        await fleet.stop()


async def test_both_kinds_run_in_one_fleet_each_from_its_own_watch() -> None:
    world = World(namespaces={"a": SELECTED})
    cluster = backend_object("platform", kind=CLUSTER_FEDERATION_BACKEND, uid="c-uid")
    world.statuses.track(cluster)
    fleet = world.fleet()
    fleet.feed(FEDERATION_BACKEND).replaced("/namespaced", [world.cr])
    fleet.feed(CLUSTER_FEDERATION_BACKEND).replaced("/cluster", [cluster])
    await settle(world, fleet)

    assert set(fleet.workers) == {(NAMESPACE, world.name), ("", "platform")}
    worker = fleet.workers[("", "platform")]
    # its credentials in the operator's namespace, its Secrets under its owner key
    assert (worker.namespace, worker.name) == (HOME, "cluster_platform")
    assert sorted(world.connector.owners) == ["cluster_platform", world.name]
    assert world.store.names("a") == ["app-db"] and world.store.names(NAMESPACE) == ["app-db"]

    fleet.feed(CLUSTER_FEDERATION_BACKEND).replaced("/cluster", [])  # gone from a new listing
    await settle(world, fleet)
    assert set(fleet.workers) == {(NAMESPACE, world.name)}
    await fleet.stop()
