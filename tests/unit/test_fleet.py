"""The fleet of workers: one per CR, started by its first event, stopped when it goes."""

from __future__ import annotations

import asyncio

from scaivault_federation.models.resource import FederationBackendResource
from scaivault_federation.sync.fleet import Fleet
from scaivault_federation.sync.worker import BackendWorker
from tests.unit.engine_fakes import NAMESPACE, World


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
