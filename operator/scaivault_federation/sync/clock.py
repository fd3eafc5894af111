"""Time as the worker sees it: a monotonic clock for due times, the wall clock for
status, and a sleep that ends early when woken. Tests pass a clock they drive."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (due times are on it)."""
        ...

    def now(self) -> datetime:
        """The wall clock, in UTC."""
        ...

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        """Return at ``deadline`` (monotonic) or as soon as ``wake`` is set."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        delay = deadline - self.monotonic()
        if delay <= 0 or wake.is_set():
            # yield all the same: a worker woken again and again never holds the loop
            await asyncio.sleep(0)
            return
        if delay == float("inf"):
            await wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)
