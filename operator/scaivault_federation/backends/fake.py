"""An in-memory backend for tests of everything above the backend layer.

It behaves like a well-mannered remote store: paths are plain strings, every
``set`` bumps the path's version (older versions stay readable by number),
listing is recursive by prefix, and describing costs a ``describe`` call per path.
Knobs let a test make every call fail (``fail_with``), make single paths fail
(``fail_paths``), read in batches or hand listings over in pages as some stores do
(``batch_size``, ``page_size``). Calls are
counted exactly like a real backend counts them.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from .base import (
    BatchResult,
    CallCounter,
    Described,
    RemoteSecret,
    RemoteSecretRef,
    RemoteValue,
    call_result,
)
from .errors import BackendError, SecretNotFoundError


@dataclass
class _Entry:
    value: RemoteValue
    version: int
    updated_at: datetime
    history: dict[int, RemoteValue] = field(default_factory=dict)
    expires_at: datetime | None = None


class FakeBackend:
    """In-memory ``SecretBackend``."""

    backend_type: ClassVar[str] = "fake"

    def __init__(
        self,
        secrets: Mapping[str, RemoteValue] | None = None,
        *,
        batch_size: int | None = None,
        page_size: int | None = None,
        latency_ms: float = 1.0,
    ) -> None:
        self.calls = CallCounter()
        self.fail_with: BackendError | None = None
        self.fail_paths: dict[str, BackendError] = {}
        self.batch_size = batch_size
        self.page_size = page_size
        self.latency_ms = latency_ms
        self.closed = False
        self.released = 0
        self._entries: dict[str, _Entry] = {}
        for path, value in (secrets or {}).items():
            self.set(path, value)

    # -- test knobs -----------------------------------------------------------------

    def set(self, path: str, value: RemoteValue) -> None:
        """Create or replace ``path``; the version goes up by one."""
        previous = self._entries.get(path)
        version = previous.version + 1 if previous else 1
        history = dict(previous.history) if previous else {}
        history[version] = copy.deepcopy(value)
        expires = previous.expires_at if previous else None
        self._entries[path] = _Entry(
            copy.deepcopy(value), version, datetime.now(UTC), history, expires
        )

    def expire(self, path: str, when: datetime | None) -> None:
        """Give ``path`` an expiry (None: none), listed and described with it."""
        self._entries[path].expires_at = when

    def delete(self, path: str) -> None:
        """Remove ``path`` (no error when absent)."""
        self._entries.pop(path, None)

    def paths(self) -> list[str]:
        return sorted(self._entries)

    # -- SecretBackend ----------------------------------------------------------------

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        self._check("list")
        refs = [
            self._ref(path, entry)
            for path, entry in sorted(self._entries.items())
            if path.startswith(prefix)
        ]
        self.calls.record("list", "ok")
        return refs

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        """:meth:`list_secrets` (one call), handed over ``page_size`` refs at a time."""
        refs = await self.list_secrets(prefix)
        size = self.page_size or max(1, len(refs))
        for start in range(0, len(refs), size):
            await asyncio.sleep(0)  # as a store answering page by page
            yield refs[start : start + size]

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        self._check("read", path)
        return self._read("read", path, version)

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        result = BatchResult(found={}, missing=[], failed={})
        unique = list(dict.fromkeys(paths))
        pinned = [p for p in unique if p in (versions or {})]
        if pinned:  # a pinned path is read on its own
            assert versions is not None
            unique = [p for p in unique if p not in versions]
            for path in pinned:
                try:
                    result.found[path] = await self.get_secret(path, versions[path])
                except SecretNotFoundError:
                    result.missing.append(path)
                except BackendError as error:
                    result.failed[path] = error
        if self.batch_size is None:
            for path in unique:
                try:
                    result.found[path] = await self.get_secret(path)
                except SecretNotFoundError:
                    result.missing.append(path)
                except BackendError as error:
                    result.failed[path] = error
            return result
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size]
            try:
                self._check("batch_read")
            except BackendError as error:
                result.failed.update(dict.fromkeys(chunk, error))
                continue
            self.calls.record("batch_read", "ok")
            for path in chunk:
                entry = self._entries.get(path)
                if path in self.fail_paths:
                    result.failed[path] = self.fail_paths[path]
                elif entry is None:
                    result.missing.append(path)
                else:
                    result.found[path] = self._secret(path, entry)
        return result

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        result = Described()
        for path in dict.fromkeys(paths):
            try:
                self._check("describe", path)
            except BackendError as error:
                result.failed[path] = error
                continue
            entry = self._entries.get(path)
            if entry is None:
                self.calls.record("describe", "not_found")
                result.missing.append(path)
            else:
                self.calls.record("describe", "ok")
                result.found[path] = self._ref(path, entry)
        return result

    async def probe(self) -> float:
        self._check("probe")
        self.calls.record("probe", "ok")
        return self.latency_ms

    async def release(self) -> None:
        self.released += 1

    async def close(self) -> None:
        self.closed = True

    # -- internals ---------------------------------------------------------------------

    def _check(self, operation: str, path: str | None = None) -> None:
        error = self.fail_with
        if error is None and path is not None:
            error = self.fail_paths.get(path)
        if error is not None:
            self.calls.record(operation, call_result(error))
            raise error

    def _read(self, operation: str, path: str, version: str | None = None) -> RemoteSecret:
        entry = self._entries.get(path)
        if entry is not None and version is not None:
            number = int(version) if version.isdigit() else -1
            old = entry.history.get(number)
            entry = None if old is None else _Entry(old, number, entry.updated_at)
        if entry is None:
            self.calls.record(operation, "not_found")
            raise SecretNotFoundError(f"no secret at {path!r}")
        self.calls.record(operation, "ok")
        return self._secret(path, entry)

    @staticmethod
    def _ref(path: str, entry: _Entry) -> RemoteSecretRef:
        return RemoteSecretRef(path, str(entry.version), entry.updated_at, entry.expires_at)

    @staticmethod
    def _secret(path: str, entry: _Entry) -> RemoteSecret:
        return RemoteSecret(path, copy.deepcopy(entry.value), str(entry.version))
