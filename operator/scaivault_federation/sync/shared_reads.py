"""One round of a ClusterFederationBackend's syncs reads the backend once: the
client its per-namespace :func:`run_sync` calls share lists each prefix, and
describes and reads each path, at most once for all namespaces (a mapping with ``{namespace}``
in its remote side has prefixes of its own per namespace). What it holds is
dropped with it at the end of the round; failures are not kept (the next
namespace asks again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import ClassVar, TypeVar

from ..backends.base import (
    Answers,
    BatchResult,
    Described,
    RemoteSecret,
    RemoteSecretRef,
    SecretBackend,
)

Found = TypeVar("Found")


class SharedReads:
    backend_type: ClassVar[str] = "shared"

    def __init__(self, backend: SecretBackend) -> None:
        self.backend = backend
        self.calls = backend.calls
        self._listings: dict[str, list[RemoteSecretRef]] = {}
        self._found: dict[str, RemoteSecret] = {}
        self._missing: set[str] = set()
        self._described: dict[str, RemoteSecretRef] = {}
        self._undescribed: set[str] = set()

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
        await _once(paths, self.backend.get_many, self._found, self._missing, result)
        return result

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        """Each path described once per round."""
        result = Described()
        await _once(
            paths, self.backend.describe_secrets, self._described, self._undescribed, result
        )
        return result

    async def probe(self) -> float:
        return await self.backend.probe()

    async def release(self) -> None:
        """The shared client is the worker's to release, not the round's."""

    async def close(self) -> None:
        """The shared client is the worker's to close, not the round's."""


async def _once(
    paths: Sequence[str],
    ask: Callable[[Sequence[str]], Awaitable[Answers[Found]]],
    found: dict[str, Found],
    missing: set[str],
    result: Answers[Found],
) -> None:
    """``ask`` the backend about the ``paths`` not answered yet this round (``found`` and
    ``missing`` keep its answers), and put every path's answer in ``result``."""
    wanted = [p for p in dict.fromkeys(paths) if p not in found and p not in missing]
    if wanted:
        answers = await ask(wanted)
        found.update(answers.found)
        missing.update(answers.missing)
        result.failed = dict(answers.failed)
    for path in dict.fromkeys(paths):
        if path in found:
            result.found[path] = found[path]
        elif path in missing:
            result.missing.append(path)
