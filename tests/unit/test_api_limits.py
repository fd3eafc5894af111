"""What bounds the API's work for callers it does not know: the answer cache, whose
entries expire and which, full, forgets the least recently used one (not
everything); and failed authentications, limited per client by a token bucket."""

from __future__ import annotations

import time

import pytest

from scaivault_federation.api.notify.service import Notifications
from scaivault_federation.api.ratelimit import FailureLimiter
from scaivault_federation.api.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    return clock


def test_a_full_cache_evicts_the_least_recently_used_entry(clock: Clock) -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=10, limit=3)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    assert cache.get("a") == (True, 1)  # a is now the most recently used
    cache.put("d", 4)
    assert "b" not in cache
    assert [cache.get(k) for k in ("a", "c", "d")] == [(True, 1), (True, 3), (True, 4)]
    assert len(cache) == 3


def test_a_flood_of_new_keys_keeps_the_ones_in_use(clock: Clock) -> None:
    cache: TtlCache[str, bool] = TtlCache(ttl=10, limit=100)
    cache.put("caller", True)
    for n in range(1000):
        cache.put(f"random-{n}", False)
        if n % 50 == 0:
            assert cache.get("caller") == (True, True)
    assert cache.get("caller") == (True, True)
    assert len(cache) == 100


def test_entries_expire(clock: Clock) -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=10, limit=3)
    cache.put("a", 1)
    clock.now += 10.5
    assert cache.get("a") == (False, None)
    assert "a" not in cache


def test_a_client_waits_once_its_burst_of_failures_is_spent(clock: Clock) -> None:
    limiter = FailureLimiter(rate=0.5, burst=3)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == pytest.approx(2.0)
    assert limiter.retry_after("10.0.0.2") == 0  # per client
    clock.now += 2.0
    assert limiter.retry_after("10.0.0.1") == 0  # refilled: one more try
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") > 0


def test_only_the_most_recent_clients_are_remembered(clock: Clock) -> None:
    limiter = FailureLimiter(rate=0.1, burst=1, clients=2)
    for client in ("a", "b", "c"):
        limiter.failed(client)
    assert limiter.retry_after("a") == 0  # forgotten: a full bucket again
    assert limiter.retry_after("b") > 0 and limiter.retry_after("c") > 0


def test_a_flood_of_event_ids_forgets_only_the_oldest(clock: Clock) -> None:
    notifications = Notifications(dedupe_seconds=600, dedupe_entries=100)
    for key in ("recent", "old"):
        assert notifications.claim(key)
        notifications.done(key)
    for n in range(99):
        assert notifications.claim(f"event-{n}")
        notifications.done(f"event-{n}")
        if n % 10 == 0:
            assert not notifications.claim("recent")  # seen again: kept
    assert not notifications.claim("recent")  # a redelivery still does nothing
    assert notifications.claim("old")  # the least recently seen one was forgotten
