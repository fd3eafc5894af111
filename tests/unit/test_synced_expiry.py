"""The expiry of synced Secrets as a metric: which Secrets a sync reports an expiry
for, and how the series follow syncs, dropped namespaces and deleted backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from scaivault_federation.backends.errors import BackendError
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.sync.metrics import forget_backend
from scaivault_federation.sync.service import SyncContext, SyncOutcome, run_sync
from tests.unit.engine_fakes import (
    MAC_KEY,
    NAME,
    NAMESPACE,
    MemorySecretStorage,
    World,
    spec_of,
    unmanaged_secret,
)
from tests.unit.test_cluster_backend import ClusterWorld

SOON = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
LATER = SOON + timedelta(days=30)
METRIC = "scaivault_secret_expiry_timestamp_seconds"


def series(**labels: str) -> dict[tuple[str, str, str, str], float]:
    """The expiry series whose labels include ``labels``."""
    found: dict[tuple[str, str, str, str], float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == METRIC and labels.items() <= sample.labels.items():
                got = sample.labels
                key = (got["namespace"], got["kind"], got["resource"], got["secret"])
                found[key] = sample.value
    return found


async def sync(backend: FakeBackend, store: MemorySecretStorage) -> SyncOutcome:
    return await run_sync(SyncContext(NAMESPACE, NAME, spec_of(), backend, store, MAC_KEY))


async def test_a_sync_reports_the_expiry_of_each_secret_it_leaves_holding_its_value() -> None:
    backend = FakeBackend({"prod/api": "t", "prod/db": "pw", "prod/blob": "b", "prod/x": "x"})
    backend.expire("prod/api", SOON)
    backend.expire("prod/blob", LATER)
    backend.expire("prod/x", SOON)
    backend.fail_paths["prod/blob"] = BackendError("read failed")
    store = MemorySecretStorage()
    store.put(NAMESPACE, unmanaged_secret("app-x", {"value": b"mine"}))  # a conflict

    first = await sync(backend, store)
    assert first.expiries == {(NAMESPACE, "app-api"): SOON.timestamp()}

    del backend.fail_paths["prod/blob"]
    backend.expire("prod/api", LATER)  # a new rotation date, the same value: not read
    second = await sync(backend, store)
    assert second.written == 1  # the blob, read at last
    assert second.expiries == {
        (NAMESPACE, "app-api"): LATER.timestamp(),
        (NAMESPACE, "app-blob"): LATER.timestamp(),
    }


async def test_a_target_s_name_is_the_secret_the_expiry_is_reported_for() -> None:
    backend = FakeBackend({"prod/api": "t", "prod/db": "pw"})
    backend.expire("prod/db", SOON)
    spec = spec_of(target={"name": "{{ captures[0] }}-pulled"})
    ctx = SyncContext(NAMESPACE, NAME, spec, backend, MemorySecretStorage(), MAC_KEY)
    outcome = await run_sync(ctx)
    assert outcome.written == 2
    assert outcome.expiries == {(NAMESPACE, "db-pulled"): SOON.timestamp()}


async def test_series_follow_full_syncs_and_go_with_the_backend() -> None:
    world = World(remote={"prod/db": "pw", "prod/api": "t"})
    world.server.expire("prod/db", SOON)
    world.server.expire("prod/api", LATER)
    worker = world.worker(watch=False)
    await worker.step(world.resource())
    mine = {"kind": "FederationBackend", "resource": world.name}
    assert series(**mine) == {
        (NAMESPACE, "FederationBackend", world.name, "app-db"): SOON.timestamp(),
        (NAMESPACE, "FederationBackend", world.name, "app-api"): LATER.timestamp(),
    }

    world.server.expire("prod/api", None)  # rotation turned off
    world.server.delete("prod/db")  # its Secret orphaned: no longer holds a value
    world.clock.advance(3600)
    await worker.step(world.resource())
    assert series(**mine) == {}

    world.server.set("prod/db", "pw-2")
    world.server.expire("prod/db", SOON)
    world.clock.advance(3600)
    await worker.step(world.resource())
    assert len(series(**mine)) == 1
    forget_backend(worker.namespace, worker.name)
    assert series(**mine) == {}


async def test_a_cluster_backend_s_series_are_per_namespace_and_leave_with_it() -> None:
    world = ClusterWorld()
    world.server.expire("teams/a/token", SOON)
    world.server.expire("prod/db", LATER)
    await world.step()
    mine = {"kind": "ClusterFederationBackend", "resource": world.name}
    assert series(**mine) == {
        ("a", "ClusterFederationBackend", world.name, "app-db"): LATER.timestamp(),
        ("b", "ClusterFederationBackend", world.name, "app-db"): LATER.timestamp(),
        ("a", "ClusterFederationBackend", world.name, "team-token"): SOON.timestamp(),
    }
    world.select("a", False)
    await world.step()
    assert list(series(**mine)) == [("b", "ClusterFederationBackend", world.name, "app-db")]
    forget_backend(world.running.namespace, world.running.name)
    assert series(**mine) == {}
