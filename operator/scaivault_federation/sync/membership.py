"""Which operator process acts on which FederationBackend.

Every process holds a Lease of its own (``coordination.k8s.io/v1``) in the
operator's namespace and renews it a few times per lease period. A process
is live while its Lease keeps changing: liveness is judged by when *this*
process last saw a Lease change, never by the timestamps written in it, so
clocks that disagree do not matter. From the live set, each process decides
on its own, the same way as every other:

- without sharding, the oldest live process (earliest acquire time) acts on
  every backend, and the others stand by;
- with sharding, each backend belongs to the live process that ranks highest
  for its uid (rendezvous hashing), so a process joining or leaving moves
  only its own share.

A process that dies stops renewing; within one lease period the others see
it gone and take its backends over. A process stopping cleanly deletes its
Lease, and the others take over at their next look.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..k8s.leases import LeaseRecord
from .clock import Clock, SystemClock

log = logging.getLogger(__name__)


class Leases(Protocol):
    async def list(self, namespace: str, group: str) -> Sequence[LeaseRecord]: ...

    async def create(
        self, namespace: str, name: str, group: str, holder: str, duration_seconds: int
    ) -> LeaseRecord: ...

    async def renew(self, namespace: str, lease: LeaseRecord) -> LeaseRecord: ...

    async def delete(self, namespace: str, name: str) -> None: ...


def rank(member: str, uid: str) -> bytes:
    return hashlib.sha256(f"{member}\0{uid}".encode()).digest()


def owner_of(uid: str, live: Sequence[tuple[str, str]], sharded: bool) -> str | None:
    """The member acting on ``uid`` among ``live`` (member, acquire time) pairs."""
    if not live:
        return None
    if not sharded:
        return min(live, key=lambda m: (m[1], m[0]))[0]
    return max((m[0] for m in live), key=lambda member: rank(member, uid))


@dataclass
class _Seen:
    version: str
    at: float
    acquire_time: str


class Membership:
    def __init__(
        self,
        leases: Leases,
        *,
        namespace: str,
        group: str,
        identity: str,
        duration: float,
        sharded: bool,
        on_change: Callable[[], None],
        clock: Clock | None = None,
        poll: float = 1.0,
    ) -> None:
        self.leases = leases
        self.namespace = namespace
        self.group = group
        self.identity = identity
        self.duration = duration
        self.sharded = sharded
        self.on_change = on_change
        self.clock = clock or SystemClock()
        self.poll = poll
        self.lease_name = f"{group}-{identity}"[:253]
        self._own: LeaseRecord | None = None
        self._last_renew = float("-inf")
        self._seen: dict[str, _Seen] = {}
        self.live: tuple[tuple[str, str], ...] = ()
        self.ready = asyncio.Event()

    def owns(self, uid: str) -> bool:
        return owner_of(uid, self.live, self.sharded) == self.lease_name

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.beat()
                except Exception as exc:  # the apiserver may be away for a moment
                    log.warning("lease renewal failed: %s", type(exc).__name__)
                await asyncio.sleep(self.poll)
        finally:
            with contextlib.suppress(Exception):
                await self.leave()

    async def beat(self) -> None:
        """Renew our Lease when due, look at everyone's, tell the workers of a change."""
        now = self.clock.monotonic()
        if self._own is None:
            self._own = await self._acquire()
            self._last_renew = now
        elif now - self._last_renew >= self.duration / 3:
            try:
                self._own = await self.leases.renew(self.namespace, self._own)
            except Exception:
                self._own = None
                raise
            self._last_renew = now
        records = await self.leases.list(self.namespace, self.group)
        now = self.clock.monotonic()
        present = set()
        for record in records:
            present.add(record.name)
            seen = self._seen.get(record.name)
            if seen is None or seen.version != record.resource_version:
                self._seen[record.name] = _Seen(record.resource_version, now, record.acquire_time)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        live = tuple(
            sorted(
                (name, seen.acquire_time)
                for name, seen in self._seen.items()
                if name == self.lease_name or now - seen.at < self.duration
            )
        )
        if live != self.live:
            log.info("live operator processes: %s", ", ".join(name for name, _ in live))
            self.live = live
            self.on_change()
        self.ready.set()

    async def _acquire(self) -> LeaseRecord:
        existing = [r for r in await self.leases.list(self.namespace, self.group)]
        for record in existing:
            if record.name == self.lease_name:  # a previous life of ours
                await self.leases.delete(self.namespace, record.name)
        return await self.leases.create(
            self.namespace, self.lease_name, self.group, self.identity, round(self.duration)
        )

    async def leave(self) -> None:
        if self._own is not None:
            await self.leases.delete(self.namespace, self._own.name)
            self._own = None
