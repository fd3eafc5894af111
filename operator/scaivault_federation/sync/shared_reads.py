"""One round of a ClusterFederationBackend's syncs reads the backend once: the
client its per-namespace :func:`run_sync` calls share lists each prefix, and
reads each path, at most once for all namespaces (a mapping with ``{namespace}``
in its remote side has prefixes of its own per namespace). What it holds is
dropped with it at the end of the round; failures are not kept (the next
namespace asks again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import ClassVar

from ..backends.base import BatchResult, RemoteSecret, RemoteSecretRef, SecretBackend


class SharedReads:
    backend_type: ClassVar[str] = "shared"

    def __init__(self, backend: SecretBackend) -> None:
        self.backend = backend
        self.calls = backend.calls
        self._listings: dict[str, list[RemoteSecretRef]] = {}
        self._found: dict[str, RemoteSecret] = {}
        self._missing: set[str] = set()

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        if prefix not in self._listings:
            self._listings[prefix] = await self.backend.list_secrets(prefix)
        return list(self._listings[prefix])

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        """The first listing of ``prefix`` page by page as the store answers (kept for the
        round once it is whole); a later one at once."""
        if prefix in self._listings:
            yield list(self._listings[prefix])
            return
        whole: list[RemoteSecretRef] = []
        async for page in self.backend.list_pages(prefix):
            whole.extend(page)
            yield page
        self._listings[prefix] = whole

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        return await self.backend.get_secret(path, version)

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        """Each path read once per round; a pinned version is read as asked, every time."""
        if versions:
            return await self.backend.get_many(paths, versions=versions)
        result = BatchResult()
        known = self._found.keys() | self._missing
        wanted = [path for path in dict.fromkeys(paths) if path not in known]
        if wanted:
            answers = await self.backend.get_many(wanted)
            self._found.update(answers.found)
            self._missing.update(answers.missing)
            result.failed = dict(answers.failed)
        for path in dict.fromkeys(paths):
            if path in self._found:
                result.found[path] = self._found[path]
            elif path in self._missing:
                result.missing.append(path)
        return result

    async def probe(self) -> float:
        return await self.backend.probe()

    async def release(self) -> None:
        """The shared client is the worker's to release, not the round's."""

    async def close(self) -> None:
        """The shared client is the worker's to close, not the round's."""
