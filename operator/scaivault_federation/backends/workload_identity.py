"""Keyless cloud identities: a ServiceAccount's token exchanged at a cloud's token
endpoint, and what the exchange gave, cached per account.

A config with ``serviceAccount`` (:class:`~..models.config.WorkloadIdentityLogin`)
logs in as the cloud identity that ServiceAccount's annotations name. The
account is checked when the backend is built (:mod:`.bound_tokens`: it exists in
the backend's namespace, opted in to lend its tokens to the backend, names a
cloud identity, is none of the release's own); the backend's client then gets a
:class:`WorkloadIdentity`, asks it for a token bound to the cloud's exchange
audience whenever it must exchange one (the rules are checked again each
time), and sends that token only to the cloud's token endpoint, which the
operator's settings name, never the backend's config.

What the exchange gives (temporary keys, an access token) is kept in the
process's :class:`ExchangeCache` under the account and the cloud identity, not
in the client: every backend and every proxied read of that account and
identity share it, until shortly before it expires, so there is one exchange
per account, identity and credential lifetime, however many backends, reads
and rebuilt clients use it. A process serves one cluster, so the account's
namespace and name say which account it is.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast

T = TypeVar("T")

#: what an exchange gave is renewed when less than this much of its life is left ...
RENEW_BEFORE = timedelta(minutes=5)
#: ... or, when it lives shorter, less than this share of its life
RENEW_SHARE = 0.25


@dataclass(frozen=True)
class Expiring(Generic[T]):
    """What an exchange gave, and when the cloud stops accepting it (aware)."""

    value: T = field(repr=False)
    expires_at: datetime


class ExchangeTokens(Protocol):
    async def exchange_token(
        self, namespace: str, service_account: str, audience: str, backend: str
    ) -> str:
        """A fresh token of the account, bound to a cloud's exchange ``audience``, for
        ``backend`` (its owner key); refused as when the backend was built."""
        ...


@dataclass
class _Entry:
    value: Any
    expires_at: float
    renew_at: float


class ExchangeCache:
    """What exchanges gave, by key, until shortly before it expires (see the module doc);
    ``exchanges`` counts the exchanges made per key."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self.exchanges: Counter[Hashable] = Counter()

    async def get(self, key: Hashable, exchange: Callable[[], Awaitable[Expiring[T]]]) -> T:
        """The value kept under ``key``, or, when there is none or it is to be renewed,
        what ``exchange()`` gives (one exchange at a time per key: others wait for it)."""
        entry = self._fresh(key)
        if entry is None:
            async with self._locks.setdefault(key, asyncio.Lock()):
                entry = self._fresh(key)
                if entry is None:
                    entry = self._keep(key, await exchange())
        return cast(T, entry.value)

    def forget(self, key: Hashable, value: object) -> None:
        """The cloud no longer accepts ``value``: exchange again at the next use, unless
        another exchange already replaced it (so many callers refused at once cost one)."""
        entry = self._entries.get(key)
        if entry is not None and entry.value is value:
            del self._entries[key]

    def _fresh(self, key: Hashable) -> _Entry | None:
        entry = self._entries.get(key)
        return entry if entry is not None and self._clock() < entry.renew_at else None

    def _keep(self, key: Hashable, got: Expiring[Any]) -> _Entry:
        now = self._clock()
        self.exchanges[key] += 1
        for stale in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[stale]
        expires = got.expires_at.timestamp()
        life = max(0.0, expires - now)
        renew_at = expires - min(RENEW_BEFORE.total_seconds(), life * RENEW_SHARE)
        entry = _Entry(got.value, expires, renew_at)
        self._entries[key] = entry
        return entry


@dataclass(frozen=True)
class WorkloadIdentity:
    """A ServiceAccount of the backend's namespace that lends its tokens to the backend,
    with the annotations that name its cloud identity."""

    namespace: str
    service_account: str
    #: the backend's owner key (a FederationBackend's name, or ``cluster_<name>``)
    backend: str
    #: the account's annotations the login reads (those its type requires, and the
    #: optional ones it carries)
    annotations: Mapping[str, str]
    tokens: ExchangeTokens = field(repr=False, compare=False)
    cache: ExchangeCache = field(repr=False, compare=False)

    @property
    def who(self) -> str:
        """The account, for messages."""
        return f"ServiceAccount {self.service_account!r} of namespace {self.namespace!r}"

    @property
    def subject(self) -> str:
        """The subject of its tokens, as the cloud's trust names it."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    async def token(self, audience: str) -> str:
        """A fresh token of the account for the cloud's exchange at ``audience``."""
        return await self.tokens.exchange_token(
            self.namespace, self.service_account, audience, self.backend
        )

    def key(self, *identity: str) -> tuple[str, ...]:
        """The cache key of what this account exchanges for the cloud identity
        ``identity`` names (a kind first, then what tells identities apart)."""
        return (self.namespace, self.service_account, *identity)

    async def exchanged(
        self, identity: tuple[str, ...], exchange: Callable[[], Awaitable[Expiring[T]]]
    ) -> T:
        """What the account's exchange for ``identity`` gave, from the cache or anew."""
        return await self.cache.get(self.key(*identity), exchange)

    def refused(self, identity: tuple[str, ...], value: object) -> None:
        """The cloud no longer accepts ``value``: exchange again next time."""
        self.cache.forget(self.key(*identity), value)
