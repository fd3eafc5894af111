"""A bounded cache whose entries expire: full, it forgets the least recently used one.

Evicting one entry at a time (not clearing the whole cache) keeps the answers of
the callers in use cached however many other keys arrive, so a flood of new
keys (random bearer tokens, say) costs their own lookups and not everyone's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.ttl = ttl
        self.limit = limit
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> tuple[bool, V | None]:
        """(hit, value); a hit makes the entry the most recently used."""
        hit = self._items.get(key)
        if hit is None:
            return False, None
        expires, value = hit
        if expires < time.monotonic():
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, value

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
