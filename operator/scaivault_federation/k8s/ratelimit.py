"""Token buckets: for Kubernetes writes, so many backends cannot stampede the apiserver,
and (without waiting) for anything else counted per second."""

from __future__ import annotations

import asyncio
import time


class Bucket:
    """``rate`` tokens per second, up to ``burst`` saved; answers at once, never waits."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate (qps) must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait(self) -> float:
        """Seconds until a token is there (0: one is there now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self) -> bool:
        """Take a token if one is there."""
        if self.wait() > 0:
            return False
        self._tokens -= 1
        return True


class TokenBucket:
    """``qps`` tokens per second, up to ``burst`` saved; ``acquire`` waits for one."""

    def __init__(self, qps: float, burst: int) -> None:
        self._bucket = Bucket(qps, burst)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                if self._bucket.take():
                    return
                await asyncio.sleep(self._bucket.wait())
