"""What the receivers keep between deliveries: recently seen event ids, and the
verifiers of the providers' own tokens that the settings configure (a Pub/Sub
push subscription's), by receiver."""

from __future__ import annotations

from collections.abc import Mapping

from ...backends.changes import TokenVerifier
from ...backends.registry import receivers
from ...settings import Settings
from ..ttl_cache import TtlCache

DEDUPE_ENTRIES = 100_000


class Notifications:
    def __init__(
        self,
        dedupe_seconds: float = 600.0,
        verifiers: Mapping[str, TokenVerifier] | None = None,
        *,
        dedupe_entries: int = DEDUPE_ENTRIES,
    ) -> None:
        # full, it forgets the least recently seen id, never all of them at once
        self._seen: TtlCache[str, bool] = TtlCache(dedupe_seconds, dedupe_entries)
        self._running: set[str] = set()
        #: receiver path -> the verifier of its provider's own tokens
        self.verifiers = dict(verifiers or {})

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifications:
        verifiers = {}
        for receiver in receivers():
            verifier = receiver.tokens(settings.api) if receiver.tokens is not None else None
            if verifier is not None:
                verifiers[receiver.path] = verifier
        return cls(settings.api.notify_dedupe_seconds, verifiers)

    def claim(self, key: str) -> bool:
        """Whether the event ``key`` is new (seen neither recently nor being handled now);
        it is then being handled until :meth:`done` or :meth:`release`."""
        seen, _ = self._seen.get(key)
        if seen or key in self._running:
            return False
        self._running.add(key)
        return True

    def done(self, key: str) -> None:
        """The event was handled: a redelivery within the dedupe time does nothing."""
        self._running.discard(key)
        self._seen.put(key, True)

    def release(self, key: str) -> None:
        """Handling failed: the provider's retry will be handled afresh."""
        self._running.discard(key)

    async def close(self) -> None:
        for verifier in self.verifiers.values():
            await verifier.close()
