"""What a full sync reads, plans and writes while the store is still listing.

Without this a full sync waits for its whole listing before it reads or writes a
thing: a hundred ``ListSecrets`` pages one after another for 10,000 AWS secrets,
four hundred Key Vault pages. Here each page is looked at as it comes: a path that
plans the same whatever the rest of the listing holds (:func:`.plan.plans_alone`:
no other remote path can claim it, no other path can take its Secret name) is read
when its version says so, planned and written at once; every other path waits for
the whole listing and is planned with it, in order of local path, as before. Only
full syncs without a target take part (a target's name template can make any two
paths collide). A listing that fails part-way keeps what its first pages wrote,
the remote values of those paths; nothing is deleted or orphaned then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..backends.base import RemoteSecretRef
from ..models.secret import LocalSecret
from ..paths import PathMapping, secret_name_for_path
from .plan import first_mapping, needs_fetch, plans_alone


class EarlyPaths:
    def __init__(
        self,
        mappings: Sequence[PathMapping],
        local: Mapping[str, LocalSecret],
        mac_key: bytes,
        backend_name: str,
        *,
        refetch: bool,
        part: int,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self.mappings = mappings
        self.ready = ready
        self.local = local
        self.mac_key = mac_key
        self.backend_name = backend_name
        self.refetch = refetch
        self.part = part
        #: remote path -> local path, of every path handled here
        self.local_of: dict[str, str] = {}
        #: local path -> version, of those whose listed version says nothing changed
        self.unchanged: dict[str, str] = {}
        self._listed: list[RemoteSecretRef] = []
        self._queue: list[str] = []
        self._more = asyncio.Event()

    def listed(self, page: list[RemoteSecretRef]) -> None:
        """A listing page, to look at."""
        self._listed.extend(page)
        self._more.set()

    def _take(self, refs: list[RemoteSecretRef]) -> None:
        """Take the paths that plan alone (to read, or unchanged)."""
        for ref in refs:
            found = first_mapping(self.mappings, ref.path)
            if found is None:
                continue
            mapping, local_path = found
            name = secret_name_for_path(local_path)
            if not plans_alone(local_path, name, mapping, self.mappings):
                continue
            self.local_of[ref.path] = local_path
            existing = self.local.get(name)
            if (
                self.refetch
                or ref.version is None
                or needs_fetch(
                    ref.version,
                    existing,
                    self.mac_key,
                    self.backend_name,
                    path=local_path,
                    remote_path=ref.path,
                )
            ):
                self._queue.append(ref.path)
            else:
                self.unchanged[local_path] = ref.version

    async def parts(self, listing: asyncio.Future[Any]) -> AsyncIterator[list[str]]:
        """The remote paths to read, as the listing hands them over, until it has ended: a
        part once half of ``part`` are in (a first sync's page or two; a resync's few
        changed paths of many pages together), at most ``part``."""
        while True:
            if self._listed:
                await self.ready()  # the local Secrets are in (nothing is read before)
                listed, self._listed = self._listed, []
                self._take(listed)
            if len(self._queue) >= self.part // 2 or (self._queue and listing.done()):
                part, self._queue = self._queue[: self.part], self._queue[self.part :]
                yield part
                continue
            if listing.done():
                return
            self._more.clear()
            more: asyncio.Future[Any] = asyncio.ensure_future(self._more.wait())
            try:
                await asyncio.wait({listing, more}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                more.cancel()
