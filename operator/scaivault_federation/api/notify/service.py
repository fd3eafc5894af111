"""What the receivers keep between deliveries: recently seen event ids, and the Pub/Sub
push token verifier when one is configured."""

from __future__ import annotations

from ...settings import Settings
from ..ttl_cache import TtlCache
from .oidc import PushTokenVerifier

DEDUPE_ENTRIES = 100_000


class Notifications:
    def __init__(
        self,
        dedupe_seconds: float = 600.0,
        push_verifier: PushTokenVerifier | None = None,
        *,
        dedupe_entries: int = DEDUPE_ENTRIES,
    ) -> None:
        # full, it forgets the least recently seen id, never all of them at once
        self._seen: TtlCache[str, bool] = TtlCache(dedupe_seconds, dedupe_entries)
        self._running: set[str] = set()
        self.push_verifier = push_verifier

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifications:
        verifier = None
        if settings.api.google_push_audience:
            verifier = PushTokenVerifier(
                settings.api.google_push_audience,
                settings.api.google_push_service_accounts,
                settings.api.google_push_issuer,
                settings.api.google_push_jwks_url,
            )
        return cls(settings.api.notify_dedupe_seconds, verifier)

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
        if self.push_verifier is not None:
            await self.push_verifier.close()
