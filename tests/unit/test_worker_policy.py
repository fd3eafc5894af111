"""Timing and status policy of the per-backend worker, and the write limiter."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from scaivault_federation.backends.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ThrottledError,
)
from scaivault_federation.errors import safe_message
from scaivault_federation.k8s.client import KubeApiError
from scaivault_federation.k8s.ratelimit import TokenBucket
from scaivault_federation.models.status import BackendStatus, Health
from scaivault_federation.sync.plan import ConflictReason, PlannedConflict
from scaivault_federation.sync.service import SyncOutcome
from scaivault_federation.sync.status import after_failure, after_sync
from scaivault_federation.sync.worker import backoff_delay, jittered

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_interval_jitter_stays_within_ten_percent_and_spreads() -> None:
    rng = random.Random(1)
    values = [jittered(900, rng) for _ in range(1000)]
    assert min(values) >= 810 and max(values) <= 990
    assert max(values) - min(values) > 150  # not lockstep


def test_backoff_grows_exponentially_up_to_the_interval() -> None:
    rng = random.Random(2)
    medians = []
    for failures in range(1, 9):
        samples = sorted(backoff_delay(failures, 300, rng, None) for _ in range(101))
        medians.append(samples[50])
    assert medians[0] < 7 and 8 < medians[1] < 12 and 16 < medians[2] < 24
    assert all(m <= 300 * 1.2 for m in medians)
    assert medians[-1] > 200


def test_backoff_honours_retry_after() -> None:
    rng = random.Random(3)
    assert all(backoff_delay(1, 300, rng, 42.0) >= 42.0 for _ in range(100))


def test_failure_messages_never_quote_unknown_exceptions() -> None:
    assert safe_message(ValueError("secret-ish text")) == "internal error (ValueError)"
    assert safe_message(BackendUnavailableError("vault: connection refused")) == (
        "vault: connection refused"
    )
    assert "403" in safe_message(KubeApiError(403, "Forbidden", "no"))


async def test_token_bucket_limits_rate_after_the_burst() -> None:
    bucket = TokenBucket(qps=50, burst=5)
    started = time.monotonic()
    for _ in range(15):
        await bucket.acquire()
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 1.0  # 10 tokens beyond the burst at 50/s = 0.2 s


async def test_token_bucket_is_fair_under_concurrency() -> None:
    bucket = TokenBucket(qps=100, burst=1)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(21)))
    assert time.monotonic() - started >= 0.18


def outcome(**kw: object) -> SyncOutcome:
    base = SyncOutcome(secrets_synced=3, written=1, duration_ms=12)
    for k, v in kw.items():
        setattr(base, k, v)
    return base


def test_sync_with_conflicts_is_healthy_and_counts_them() -> None:
    conflict = PlannedConflict("a", "prod/a", ConflictReason.LOCAL_EDIT)
    status = after_sync(
        BackendStatus(),
        outcome(conflicts=[conflict]),
        latency_ms=4.2,
        now=NOW,
        generation=2,
        backend_id="fed_x",
    )
    assert status.status is Health.HEALTHY and status.conflict_count == 1
    assert status.conflicts[0].detected_at == NOW
    later = after_sync(
        status,
        outcome(conflicts=[conflict]),
        latency_ms=1,
        now=NOW + timedelta(minutes=5),
        generation=2,
        backend_id="fed_x",
    )
    assert later.conflicts[0].detected_at == NOW  # first detection is kept
    cleared = after_sync(later, outcome(), latency_ms=1, now=NOW, generation=2, backend_id="fed_x")
    assert cleared.conflicts == [] and cleared.conflict_count == 0


def test_failures_keep_figures_and_pick_health_by_kind() -> None:
    ok = after_sync(BackendStatus(), outcome(), latency_ms=3, now=NOW, generation=1, backend_id="f")
    down = after_failure(
        ok, BackendUnavailableError("down"), now=NOW, generation=1, backend_id="f", message="down"
    )
    assert down.status is Health.DEGRADED and down.secrets_synced == 3
    assert down.last_sync == ok.last_sync
    denied = after_failure(
        ok, AuthenticationError("denied"), now=NOW, generation=1, backend_id="f", message="denied"
    )
    assert denied.status is Health.ERROR
    throttled = after_failure(
        ok,
        ThrottledError("slow", retry_after=3),
        now=NOW,
        generation=1,
        backend_id="f",
        message="slow",
    )
    ready = {c.type: c for c in throttled.conditions}["Ready"]
    assert ready.status == "False" and ready.reason == "Throttled"
    never_synced = after_failure(
        BackendStatus(),
        BackendUnavailableError("down"),
        now=NOW,
        generation=1,
        backend_id="f",
        message="down",
    )
    assert never_synced.status is Health.ERROR


def test_condition_transition_time_moves_only_on_flips() -> None:
    first = after_sync(
        BackendStatus(), outcome(), latency_ms=1, now=NOW, generation=1, backend_id="f"
    )
    again = after_sync(
        first, outcome(), latency_ms=1, now=NOW + timedelta(hours=1), generation=1, backend_id="f"
    )
    ready = {c.type: c for c in again.conditions}["Ready"]
    assert ready.last_transition_time == NOW
    failed = after_failure(
        again,
        BackendUnavailableError("x"),
        now=NOW + timedelta(hours=2),
        generation=1,
        backend_id="f",
        message="x",
    )
    ready = {c.type: c for c in failed.conditions}["Ready"]
    assert ready.last_transition_time == NOW + timedelta(hours=2)


def test_status_lists_at_most_the_schema_maximum_of_conflicts() -> None:
    many = [PlannedConflict(f"p/{i}", f"r/{i}", ConflictReason.LOCAL_EDIT) for i in range(1500)]
    status = after_sync(
        BackendStatus(),
        outcome(conflicts=many),
        latency_ms=1,
        now=NOW,
        generation=1,
        backend_id="f",
    )
    assert status.conflict_count == 1500 and len(status.conflicts) == 1000
