"""Failed authentications, limited per client.

A bearer token the API does not know costs a TokenReview at the apiserver. Each
client (by remote address) has a bucket of failures: ``burst`` at once, refilled
at ``rate`` a second. A client whose bucket is empty is answered 429 with
``Retry-After`` before its token is looked at, so a stream of random tokens
costs at most ``rate`` reviews a second. Valid tokens take nothing from the
bucket; only the clients seen most recently are remembered (a forgotten one
starts with a full bucket).
"""

from __future__ import annotations

from collections import OrderedDict

from ..k8s.ratelimit import Bucket

FAILURE_BURST = 20
FAILURE_RATE = 1.0
CLIENTS = 10_000


class FailureLimiter:
    def __init__(
        self, rate: float = FAILURE_RATE, burst: int = FAILURE_BURST, clients: int = CLIENTS
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clients = clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before another token of it is checked; 0: none."""
        bucket = self._buckets.get(client)
        return 0.0 if bucket is None else bucket.wait()

    def failed(self, client: str) -> None:
        """``client`` sent a token that is not valid."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = Bucket(self.rate, self.burst)
        self._buckets.move_to_end(client)
        bucket.take()
        while len(self._buckets) > self.clients:
            self._buckets.popitem(last=False)
