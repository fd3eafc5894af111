"""A per-path sync's client: it learns whether its paths exist by reading them.

A sync of some paths reads every path it asks about (a change is why it runs), so
describing a path first costs a call the read makes anyway: the read answers
whether the path exists and at which version as well. Here
:meth:`~DescribedByReading.describe_secrets` reads the paths and keeps the values,
and the sync's reads of those paths take the kept values instead of asking again. A
path read at a pinned version other than the one kept is read again, as asked.
What the store keeps only in its metadata (AWS's next rotation) is not learnt this
way; the next full sync, which lists, brings it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import ClassVar

from ..backends.base import (
    BatchResult,
    Described,
    RemoteSecret,
    RemoteSecretRef,
    SecretBackend,
)


class DescribedByReading:
    backend_type: ClassVar[str] = "described-by-reading"

    def __init__(self, backend: SecretBackend) -> None:
        self.backend = backend
        self.calls = backend.calls
        self._read: dict[str, RemoteSecret] = {}

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        return await self.backend.list_secrets(prefix)

    def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        return self.backend.list_pages(prefix)

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        return await self.backend.get_secret(path, version)

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        """``paths`` read, their values kept for the sync's reads."""
        read = await self.backend.get_many(list(dict.fromkeys(paths)))
        self._read.update(read.found)
        found = {
            path: RemoteSecretRef(path, secret.version, expires_at=secret.expires_at)
            for path, secret in read.found.items()
        }
        return Described(found=found, missing=list(read.missing), failed=dict(read.failed))

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        """The kept values of ``paths`` (each handed out once), the others read."""
        pins = versions or {}
        result = BatchResult()
        asked: list[str] = []
        for path in dict.fromkeys(paths):
            kept = self._read.pop(path, None)
            if kept is not None and pins.get(path, kept.version) == kept.version:
                result.found[path] = kept
            else:
                asked.append(path)
        if asked:
            pinned = {path: pins[path] for path in asked if path in pins}
            read = await self.backend.get_many(asked, versions=pinned or None)
            result.found.update(read.found)
            result.missing.extend(read.missing)
            result.failed.update(read.failed)
        return result

    async def probe(self) -> float:
        return await self.backend.probe()

    async def release(self) -> None:
        await self.backend.release()

    async def close(self) -> None:
        await self.backend.close()
