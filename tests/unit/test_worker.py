"""The per-backend worker, driven through step(), run() and observe() on a virtual clock:
when it syncs, what it records, and what it does with its backend connection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from scaivault_federation import conditions as c
from scaivault_federation.backends.base import RemoteSecretRef
from scaivault_federation.backends.errors import (
    AuthenticationError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    ThrottledError,
)
from scaivault_federation.k8s.client import ConflictError
from scaivault_federation.models.status import BackendStatus, Health, backend_id
from scaivault_federation.sync.report import PROXY_MESSAGE, SUSPENDED_MESSAGE
from scaivault_federation.sync.worker import INVALID_SPEC_WAIT, BackendWorker
from tests.unit.engine_fakes import (
    MONOTONIC_START,
    NAMESPACE,
    OPT_IN,
    WALL_START,
    World,
    rfc3339,
    unmanaged_secret,
)

INTERVAL = 600.0  # the default syncInterval of backend_object, 10m


def conditions(status: BackendStatus) -> dict[str, tuple[str, str]]:
    return {cond.type: (cond.status, cond.reason) for cond in status.conditions}


async def first_sync(world: World) -> BackendWorker:
    worker = world.worker()
    await worker.step(world.resource())
    assert world.syncs == 1
    return worker


async def step_at(world: World, worker: BackendWorker, moment: float) -> None:
    """Move virtual time to ``moment`` and let the worker look at the CR as it is."""
    world.clock.advance_to(moment)
    await worker.step(world.resource())


@contextlib.asynccontextmanager
async def running(world: World) -> AsyncIterator[tuple[BackendWorker, asyncio.Task[None]]]:
    """``worker.run()`` as the fleet runs it, parked at its first sleep."""
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)
    try:
        yield worker, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def next_at(world: World, delay: float) -> datetime:
    """``status.nextSyncAt`` of a status written now with ``delay``."""
    return (world.clock.now() + timedelta(seconds=round(delay))).replace(microsecond=0)


def jitter_delays(world: World, count: int, interval: float = INTERVAL) -> list[float]:
    """The delays a worker's seeded generator gives ``count`` successful syncs in a row."""
    rng = world.rng()
    return [interval * rng.uniform(0.9, 1.1) for _ in range(count)]


# -- the schedule --------------------------------------------------------------------------


async def test_the_first_sync_happens_at_once() -> None:
    world = World(remote={"prod/db": "pw-1", "prod/api": "token"})
    worker = world.worker()

    await worker.step(world.resource())

    assert world.connector.listed_at == [MONOTONIC_START]
    assert world.connector.calls == 1
    assert world.store.names(NAMESPACE) == ["app-api", "app-db"]
    [status] = world.statuses.statuses
    assert status.status is Health.HEALTHY
    assert status.message == "2 secret(s) synced" and status.secrets_synced == 2
    assert status.last_sync == WALL_START and status.observed_generation == 1
    assert status.id == backend_id("0b7c6a52-uid")
    assert conditions(status) == {
        c.SYNCED: ("True", c.SYNC_SUCCEEDED),
        c.READY: ("True", c.SYNC_SUCCEEDED),
    }
    [delay] = jitter_delays(world, 1)
    assert worker.due == pytest.approx(MONOTONIC_START + delay)
    assert status.next_sync_at == WALL_START + timedelta(seconds=round(delay))
    assert world.events.events == []


async def test_a_worker_asleep_for_long_holds_no_connection() -> None:
    world = World()
    async with running(world):
        connection = world.connector.current
        assert world.syncs == 1 and connection.released >= 1 and not connection.closed
        released = connection.released
        world.clock.advance(INTERVAL * 1.2)  # the next sync reuses the client
        await world.clock.settle()
        assert world.syncs == 2 and world.connector.calls == 1
        assert connection.released > released


async def test_a_worker_due_again_soon_keeps_its_connection() -> None:
    world = World(syncInterval="20s")
    async with running(world):
        assert world.syncs == 1 and world.connector.current.released == 0


async def test_the_next_sync_is_due_after_the_interval_with_ten_percent_jitter() -> None:
    world = World()
    worker = await first_sync(world)
    expected = jitter_delays(world, 40)

    for _ in range(39):
        due = worker.due
        before = world.syncs
        await step_at(world, worker, due - 0.5)
        await step_at(world, worker, due - 0.001)
        assert world.syncs == before
        await step_at(world, worker, due)
        assert world.syncs == before + 1

    times = world.connector.listed_at
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == pytest.approx(expected[:39])
    assert all(0.9 * INTERVAL <= gap <= 1.1 * INTERVAL for gap in gaps)
    assert max(gaps) - min(gaps) > 0.1 * INTERVAL  # spread, not lockstep
    assert world.connector.calls == 1  # one connection for all of them
    assert world.statuses.last.next_sync_at == next_at(world, expected[39])


async def test_a_watch_event_without_changes_does_not_sync() -> None:
    world = World()
    worker = await first_sync(world)

    for seconds in (0, 1, 60, 300):
        await step_at(world, worker, MONOTONIC_START + seconds)

    assert world.syncs == 1 and len(world.statuses.written) == 1


async def test_a_spec_change_reconfigures_and_syncs_at_once() -> None:
    world = World()
    worker = await first_sync(world)
    old = world.connector.current
    world.clock.advance(120)
    world.edit_spec(syncInterval="5m")

    await worker.step(world.resource())

    assert old.closed
    assert world.connector.calls == 2 and not world.connector.current.closed
    assert [s.sync_interval for s in world.connector.specs] == ["10m", "5m"]
    assert world.connector.listed_at == [MONOTONIC_START, MONOTONIC_START + 120]
    assert world.statuses.last.observed_generation == 2
    rng = world.rng()
    rng.random()  # the first sync's jitter
    assert worker.due == pytest.approx(MONOTONIC_START + 120 + 300 * rng.uniform(0.9, 1.1))


async def test_a_spec_change_restarts_the_failure_backoff() -> None:
    world = World()
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    worker = world.worker()
    for _ in range(5):
        await step_at(world, worker, worker.due)
    assert worker.failures == 5
    assert 64 <= worker.due - world.clock.monotonic() <= 96
    world.clock.advance(1)
    world.edit_spec(conflictPolicy="overwrite")

    await worker.step(world.resource())

    assert worker.failures == 1  # tried at once, failed: the shortest backoff again
    assert 4 <= worker.due - world.clock.monotonic() <= 6
    world.server.fail_with = None
    await step_at(world, worker, worker.due)
    assert worker.failures == 0 and world.syncs == 1


async def test_the_manual_sync_annotation_syncs_at_once_and_once_per_value() -> None:
    world = World()
    worker = await first_sync(world)
    world.clock.advance(60)
    world.request_sync("2026-03-01T12:01:00Z")

    await worker.step(world.resource())
    await worker.step(world.resource())
    await step_at(world, worker, MONOTONIC_START + 90)

    assert world.connector.listed_at == [MONOTONIC_START, MONOTONIC_START + 60]
    delays = jitter_delays(world, 2)
    assert worker.due == pytest.approx(MONOTONIC_START + 60 + delays[1])

    world.request_sync("2026-03-01T12:01:30Z")
    await worker.step(world.resource())

    assert world.connector.listed_at[-1] == MONOTONIC_START + 90 and world.syncs == 3
    assert world.connector.calls == 1


async def test_a_manual_sync_interrupts_a_failure_backoff() -> None:
    world = World()
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    worker = world.worker()
    await worker.step(world.resource())
    world.server.fail_with = None
    world.request_sync("2026-03-01T12:00:01Z")

    await worker.step(world.resource())

    assert world.syncs == 1 and world.statuses.last.status is Health.HEALTHY


# -- suspend -----------------------------------------------------------------------------------


async def test_suspend_writes_the_suspended_status_once_and_never_syncs() -> None:
    world = World(suspend=True)
    worker = world.worker()

    await worker.step(world.resource())
    for n in range(1, 6):
        await step_at(world, worker, MONOTONIC_START + n * INTERVAL)

    assert world.syncs == 0 and world.connector.calls == 0
    assert world.store.names(NAMESPACE) == []
    [status] = world.statuses.statuses
    assert status.message == SUSPENDED_MESSAGE and status.observed_generation == 1
    assert conditions(status)[c.SYNCED] == ("False", c.SUSPENDED)
    assert status.next_sync_at == WALL_START + timedelta(seconds=INTERVAL)
    assert world.events.events == []


async def test_suspending_stops_syncing_and_resuming_syncs_at_once() -> None:
    world = World()
    worker = await first_sync(world)
    world.clock.advance(30)
    world.edit_spec(suspend=True)

    await worker.step(world.resource())
    await step_at(world, worker, MONOTONIC_START + 3 * INTERVAL)

    assert world.syncs == 1
    assert world.connector.current.closed and worker.backend is None
    suspended = world.statuses.last
    assert suspended.message == SUSPENDED_MESSAGE and suspended.secrets_synced == 1
    assert len(world.statuses.written) == 2

    world.edit_spec(suspend=False)
    await worker.step(world.resource())

    assert world.syncs == 2 and world.statuses.last.message == "1 secret(s) synced"
    assert world.connector.calls == 2
    assert conditions(world.statuses.last)[c.SYNCED] == ("True", c.SYNC_SUCCEEDED)


async def test_a_spec_change_while_suspended_records_the_new_generation() -> None:
    world = World(suspend=True)
    worker = world.worker()
    await worker.step(world.resource())
    world.edit_spec(syncInterval="20m")

    await worker.step(world.resource())

    assert world.syncs == 0
    assert world.statuses.last.observed_generation == 2
    assert world.cr["status"]["observedGeneration"] == 2
    assert len(world.statuses.written) == 2


# -- an operator restart -------------------------------------------------------------------


def healthy_status(next_in: float, *, generation: int = 1, last_ago: float = 300) -> dict[str, Any]:
    return {
        "id": backend_id("0b7c6a52-uid"),
        "status": "healthy",
        "lastSync": rfc3339(WALL_START - timedelta(seconds=last_ago)),
        "nextSyncAt": rfc3339(WALL_START + timedelta(seconds=next_in)),
        "observedGeneration": generation,
        "message": "1 secret(s) synced",
        "secretsSynced": 1,
    }


async def test_a_restarted_worker_keeps_a_healthy_backends_schedule() -> None:
    world = World(status=healthy_status(300))
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, MONOTONIC_START + 299)

    assert world.syncs == 0 and world.connector.calls == 0
    assert world.statuses.written == []
    assert worker.due == MONOTONIC_START + 300

    await step_at(world, worker, MONOTONIC_START + 300)

    assert world.connector.listed_at == [MONOTONIC_START + 300]


async def test_a_restarted_worker_honours_a_trigger_set_while_it_was_down() -> None:
    world = World(
        status=healthy_status(300, last_ago=300),
        annotations={"federation.scaivault.io/sync-requested-at": "2026-03-01T11:58:00Z"},
    )
    worker = world.worker()

    await worker.step(world.resource())
    await worker.step(world.resource())

    assert world.connector.listed_at == [MONOTONIC_START]


async def test_a_restarted_worker_ignores_a_trigger_older_than_the_last_sync() -> None:
    world = World(
        status=healthy_status(300, last_ago=300),
        annotations={"federation.scaivault.io/sync-requested-at": "2026-03-01T11:50:00Z"},
    )
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, MONOTONIC_START + 100)

    assert world.syncs == 0
    await step_at(world, worker, MONOTONIC_START + 300)
    assert world.connector.listed_at == [MONOTONIC_START + 300]


@pytest.mark.parametrize(
    "status",
    [
        healthy_status(300, generation=0),  # the spec changed while the operator was down
        {**healthy_status(300), "status": "degraded"},
        {**healthy_status(300), "status": "error"},
        healthy_status(-5),  # overdue
        {k: v for k, v in healthy_status(300).items() if k != "nextSyncAt"},
        {},
    ],
    ids=["new-generation", "degraded", "error", "overdue", "no-next-sync", "no-status"],
)
async def test_a_restarted_worker_syncs_anything_else_at_once(status: dict[str, Any]) -> None:
    world = World(status=status)
    worker = world.worker()

    await worker.step(world.resource())

    assert world.connector.listed_at == [MONOTONIC_START]


# -- failures ----------------------------------------------------------------------------------


async def test_failure_backoff_grows_exponentially_up_to_max_backoff() -> None:
    world = World(max_backoff=60)
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    worker = world.worker()

    delays = []
    for _ in range(8):
        await step_at(world, worker, worker.due)
        delays.append(worker.due - world.clock.monotonic())

    bases = [5, 10, 20, 40, 60, 60, 60, 60]
    for delay, base in zip(delays, bases, strict=True):
        assert 0.8 * base <= delay <= 1.2 * base
    assert delays[:4] == sorted(delays[:4])
    assert worker.failures == 8 and world.connector.calls == 1
    assert world.store.writes == 0
    status = world.statuses.last
    assert status.status is Health.ERROR  # never synced: retryable but nothing to keep
    assert conditions(status)[c.READY] == ("False", c.BACKEND_UNAVAILABLE)
    assert status.next_sync_at == next_at(world, delays[-1])


async def test_backoff_never_exceeds_the_interval() -> None:
    world = World(syncInterval="10s")
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    worker = world.worker()

    delays = []
    for _ in range(6):
        await step_at(world, worker, worker.due)
        delays.append(worker.due - world.clock.monotonic())

    assert all(8 <= d <= 12 for d in delays[1:])


async def test_backoff_honours_retry_after() -> None:
    world = World(max_backoff=60)
    world.server.fail_with = ThrottledError("fake: 429", retry_after=120)
    worker = world.worker()

    await worker.step(world.resource())

    assert worker.due == MONOTONIC_START + 120
    status = world.statuses.last
    assert status.next_sync_at == WALL_START + timedelta(seconds=120)
    assert conditions(status)[c.READY] == ("False", c.THROTTLED)
    assert world.events.triples == [(c.THROTTLED, "fake: 429", True)]

    world.server.fail_with = ThrottledError("fake: 429", retry_after=1)
    await step_at(world, worker, worker.due)

    assert 8 <= worker.due - world.clock.monotonic() <= 12  # the backoff, longer than 1s


async def test_a_success_after_failures_resets_the_backoff_and_reports_recovery() -> None:
    world = World()
    worker = await first_sync(world)
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    for _ in range(3):
        await step_at(world, worker, worker.due)
    assert world.statuses.last.status is Health.DEGRADED  # synced before: degraded, not error
    world.server.fail_with = None

    await step_at(world, worker, worker.due)

    assert worker.failures == 0
    assert 0.9 * INTERVAL <= worker.due - world.clock.monotonic() <= 1.1 * INTERVAL
    assert world.events.triples == [
        (c.BACKEND_UNAVAILABLE, "fake: connection refused", True),
        ("Recovered", "1 secret(s) synced", False),
    ]


async def test_a_non_retryable_failure_closes_the_backend_and_the_next_try_reconnects() -> None:
    world = World()
    worker = await first_sync(world)
    first = world.connector.current
    first.fail_with = AuthenticationError("fake: 401 token expired")

    await step_at(world, worker, worker.due)

    failed = world.statuses.last
    assert first.closed and worker.backend is None
    assert failed.status is Health.ERROR
    assert conditions(failed)[c.READY] == ("False", c.AUTHENTICATION_FAILED)

    await step_at(world, worker, worker.due)

    recovered = world.statuses.last
    assert world.connector.calls == 2 and world.connector.current is not first
    assert world.syncs == 2 and recovered.status is Health.HEALTHY


async def test_a_retryable_failure_keeps_the_backend() -> None:
    world = World()
    worker = await first_sync(world)
    connection = world.connector.current
    connection.fail_with = BackendUnavailableError("fake: 503")

    await step_at(world, worker, worker.due)
    connection.fail_with = None
    await step_at(world, worker, worker.due)

    assert not connection.closed and worker.backend is connection
    assert world.connector.calls == 1 and world.syncs == 2


async def test_a_failing_connect_is_reported_and_tried_again_after_the_backoff() -> None:
    world = World()
    message = "credentials key 'access_key_id' is missing or empty"
    world.connector.fail_with = InvalidBackendConfigError(message)
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, worker.due)

    assert world.connector.calls == 2 and world.connector.connections == []
    assert world.statuses.last.status is Health.ERROR
    assert conditions(world.statuses.last)[c.READY] == ("False", c.INVALID_CONFIG)
    assert world.events.triples == [(c.INVALID_CONFIG, message, True)]

    world.connector.fail_with = None
    await step_at(world, worker, worker.due)

    assert world.syncs == 1 and world.store.names(NAMESPACE) == ["app-db"]


async def test_failures_keep_every_secret_and_every_synced_figure() -> None:
    world = World(remote={"prod/a": "1", "prod/b": "2"}, prune=True)
    worker = await first_sync(world)
    before = world.store.data(NAMESPACE)
    world.server.fail_with = AuthenticationError("fake: 403")

    await step_at(world, worker, worker.due)

    assert world.store.data(NAMESPACE) == before
    status = world.statuses.last
    assert status.secrets_synced == 2 and status.last_sync == WALL_START
    assert status.message == "fake: 403"


async def test_events_are_not_repeated_for_the_same_failure() -> None:
    world = World()
    worker = world.worker()
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    for _ in range(5):
        await step_at(world, worker, worker.due)
    world.server.fail_with = BackendUnavailableError("fake: 503 sealed")
    for _ in range(3):
        await step_at(world, worker, worker.due)

    assert len(world.statuses.written) == 8
    assert world.events.triples == [
        (c.BACKEND_UNAVAILABLE, "fake: connection refused", True),
        (c.BACKEND_UNAVAILABLE, "fake: 503 sealed", True),
    ]


async def test_an_unexpected_exception_is_reported_without_its_text() -> None:
    world = World()
    worker = await first_sync(world)
    connection = world.connector.current

    async def explode(prefix: str) -> list[RemoteSecretRef]:
        raise RuntimeError("token=hunter2")

    connection.list_secrets = explode  # type: ignore[method-assign]
    await step_at(world, worker, worker.due)

    status = world.statuses.last
    assert status.message == "internal error (RuntimeError)"
    assert status.status is Health.ERROR
    assert conditions(status)[c.READY] == ("False", c.INTERNAL_ERROR)
    assert connection.closed  # not retryable: log in afresh next time
    assert world.events.triples == [(c.INTERNAL_ERROR, "internal error (RuntimeError)", True)]


# -- an invalid spec -------------------------------------------------------------------------


async def test_an_invalid_spec_is_recorded_and_never_connects() -> None:
    world = World(syncInterval="5s")
    worker = world.worker()
    message = "invalid spec: spec.syncInterval: Value error, must be at least 10s"

    await worker.step(world.resource())
    for seconds in (1, 600, INVALID_SPEC_WAIT - 1):
        await step_at(world, worker, MONOTONIC_START + seconds)

    assert world.connector.calls == 0 and world.syncs == 0
    [status] = world.statuses.statuses
    assert status.status is Health.ERROR and status.message == message
    assert conditions(status) == {
        c.SYNCED: ("False", c.INVALID_CONFIG),
        c.READY: ("False", c.INVALID_CONFIG),
    }
    assert status.next_sync_at == WALL_START + timedelta(seconds=INVALID_SPEC_WAIT)
    assert world.events.triples == [(c.INVALID_CONFIG, message, True)]

    world.edit_spec(syncInterval="30s")
    await worker.step(world.resource())

    assert world.syncs == 1 and world.statuses.last.status is Health.HEALTHY
    assert world.events.reasons == [c.INVALID_CONFIG, "Recovered"]


async def test_a_restarted_worker_does_not_repeat_the_invalid_spec_event() -> None:
    world = World(config={"endpoint": "https://vault:8200"})
    first = world.worker(watch=False)
    await first.step(world.resource())

    second = world.worker(watch=False)
    await second.step(world.resource())

    assert len(world.events.events) == 1
    assert world.events.events[0].message == (
        "invalid spec: spec.config: Value error, config.region: Field required"
    )


# -- what a sync reports -----------------------------------------------------------------------


async def test_a_conflict_is_announced_once_and_listed_while_it_lasts() -> None:
    world = World(remote={"prod/db": "pw-1", "prod/api": "t"})
    world.store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"mine"}))
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, worker.due)

    status = world.statuses.last
    assert status.conflict_count == 1 and status.status is Health.HEALTHY
    assert [(x.path, x.reason, x.detected_at) for x in status.conflicts] == [
        ("app/api", "UnmanagedSecretDiffers", WALL_START)
    ]
    assert conditions(status)[c.READY] == ("True", c.SYNCED_WITH_CONFLICTS)
    assert world.events.triples == [
        ("ConflictDetected", "path app/api (UnmanagedSecretDiffers); local value kept", True)
    ]


async def test_a_takeover_is_announced() -> None:
    world = World(conflictPolicy="overwrite")
    world.store.put(NAMESPACE, unmanaged_secret("app-db", {"value": b"mine"}, OPT_IN))
    worker = world.worker()

    await worker.step(world.resource())

    assert world.store.data(NAMESPACE) == {"app-db": {"value": b"pw-1"}}
    assert world.events.triples == [
        (
            "SecretOverwritten",
            "path app/db: local value replaced by the remote one (overwrite policy)",
            True,
        )
    ]


async def test_a_partial_sync_is_degraded_and_announced_once() -> None:
    world = World(remote={"prod/db": "pw-1", "prod/api": "t"})
    world.server.fail_paths["prod/api"] = BackendUnavailableError("fake: timeout on prod/api")
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, worker.due)

    status = world.statuses.last
    assert status.status is Health.DEGRADED and status.secrets_synced == 1
    assert status.message == "1 path(s) failed: app/api: fake: timeout on prod/api"
    assert conditions(status) == {
        c.SYNCED: ("False", c.PARTIAL_SYNC),
        c.READY: ("True", c.PARTIAL_SYNC),
    }
    assert world.events.triples == [(c.PARTIAL_SYNC, status.message, True)]


async def test_proxy_mode_probes_and_never_writes_secrets() -> None:
    world = World(mode="proxy", syncInterval=None)
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, worker.due)

    assert world.syncs == 0 and world.store.names(NAMESPACE) == []
    assert world.connector.calls == 1
    status = world.statuses.last
    assert status.message == PROXY_MESSAGE and status.status is Health.HEALTHY
    assert conditions(status) == {
        c.SYNCED: ("False", c.PROXY_MODE),
        c.READY: ("True", c.PROXY_MODE),
    }
    assert 54 <= worker.due - world.clock.monotonic() <= 66  # the 1m probe interval, jittered


async def test_a_failed_status_write_does_not_stop_the_worker() -> None:
    world = World()
    world.statuses.fail_with = ConflictError(409, "Conflict", "status changed")
    worker = world.worker()

    await worker.step(world.resource())
    await step_at(world, worker, worker.due)

    assert world.syncs == 2 and world.statuses.written == []
    assert world.store.names(NAMESPACE) == ["app-db"]


async def test_a_sync_whose_status_was_not_written_is_made_again_soon_backing_off() -> None:
    world = World()  # syncInterval 10m: a status lost until then would say nothing for long
    world.statuses.fail_with = TimeoutError()  # the apiserver did not answer
    worker = world.worker()
    await worker.step(world.resource())
    assert world.syncs == 1 and world.statuses.written == []
    first = worker.due - world.clock.monotonic()
    assert 4 <= first <= 6  # not the interval

    await step_at(world, worker, worker.due)  # failing still: later
    assert world.syncs == 2 and 8 <= worker.due - world.clock.monotonic() <= 12

    world.statuses.fail_with = None
    await step_at(world, worker, worker.due)
    assert world.syncs == 3 and world.statuses.last.status is Health.HEALTHY
    assert 540 <= worker.due - world.clock.monotonic() <= 660  # back to the interval


# -- run() -------------------------------------------------------------------------------------


async def test_run_syncs_on_schedule_and_its_own_status_writes_do_not_resync() -> None:
    world = World()
    async with running(world) as (worker, _):
        delays = jitter_delays(world, 5)
        assert world.connector.listed_at == [MONOTONIC_START]

        world.clock.advance(sum(delays[:4]) + 1)
        await world.clock.settle()

        expected = [MONOTONIC_START]
        for delay in delays[:4]:
            expected.append(expected[-1] + delay)
        assert world.connector.listed_at == pytest.approx(expected)
        assert len(world.statuses.written) == 5  # one per sync, each seen by the watch
        assert worker.due == pytest.approx(expected[-1] + delays[4])
        assert world.clock.monotonic() == pytest.approx(MONOTONIC_START + sum(delays[:4]) + 1)


async def test_run_wakes_for_a_manual_sync_without_time_passing() -> None:
    world = World()
    async with running(world):
        world.clock.advance(42)
        await world.clock.settle()
        world.request_sync("2026-03-01T12:00:42Z")
        await world.clock.settle()

        assert world.connector.listed_at == [MONOTONIC_START, MONOTONIC_START + 42]


async def test_run_reconfigures_on_a_spec_change() -> None:
    world = World()
    async with running(world) as (worker, _):
        first = world.connector.current
        world.clock.advance(10)
        await world.clock.settle()
        world.edit_spec(pathMapping={"app/*": "prod/*", "ops/*": "ops/*"})
        await world.clock.settle()

        assert first.closed and world.connector.calls == 2
        assert world.connector.listed_at == [MONOTONIC_START] + [MONOTONIC_START + 10] * 2
        assert world.statuses.last.observed_generation == 2
        assert worker.backend is world.connector.current


async def test_run_ends_when_the_cr_is_being_deleted() -> None:
    world = World()
    async with running(world) as (worker, task):
        world.start_deleting()
        await world.clock.settle(task)

        assert task.done() and task.exception() is None
        assert world.connector.current.closed and worker.backend is None
        assert world.syncs == 1


async def test_run_on_a_cr_already_being_deleted_does_nothing() -> None:
    world = World(deleting=True)
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))

    await world.clock.settle(task)

    assert task.done() and task.exception() is None
    assert world.connector.calls == 0 and world.statuses.written == []


async def test_run_exits_cleanly_on_cancellation_and_closes_the_backend() -> None:
    world = World()
    worker = world.worker()
    task = asyncio.create_task(worker.run(world.resource()))
    await world.clock.settle(task)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert world.connector.current.closed and worker.backend is None
    assert world.syncs == 1


async def test_run_backs_off_and_recovers() -> None:
    world = World()
    world.server.fail_with = BackendUnavailableError("fake: connection refused")
    async with running(world) as (worker, _):
        world.clock.advance(60)
        await world.clock.settle()
        # tries at 0, ~5, ~15, ~35 (and ~75) seconds: 5, 10, 20, 40 s apart, ±20 %
        assert 4 <= worker.failures <= 5
        assert world.syncs == 0 and len(world.statuses.written) == worker.failures
        world.server.fail_with = None
        world.clock.advance(200)
        await world.clock.settle()

        assert worker.failures == 0 and world.syncs == 1
        assert world.events.reasons == [c.BACKEND_UNAVAILABLE, "Recovered"]


def test_a_status_event_keeps_the_parsed_spec_a_spec_change_replaces_it() -> None:
    world = World()
    worker = world.worker(watch=False)
    worker.observe(world.resource())
    assert worker.resource is not None
    first = worker.resource.spec

    world.request_sync("2026-01-01T00:00:00Z")  # metadata changes, the spec does not
    worker.observe(world.resource())
    assert worker.resource.spec is first
    assert worker.resource.sync_requested == "2026-01-01T00:00:00Z"

    world.edit_spec(syncInterval="5m")
    worker.observe(world.resource())
    assert worker.resource.spec is not first
    assert worker.resource.spec is not None and worker.resource.spec.sync_interval == "5m"
