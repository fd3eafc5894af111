"""The contract every secret backend implements.

A backend is a small async client for one remote secret store. It speaks in
paths of the backend's own template space (what the right-hand side of a
``pathMapping`` names), never in ScaiVault paths: translating between the two
is the job of :mod:`scaivault_federation.paths`. A backend keeps no sync state;
it lists, reads and proves its credentials, and counts every API call it makes
so tests and metrics can see how many round trips a sync cost.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ..models.secret import RemoteValue as RemoteValue
from .errors import (
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)
from .errors import (
    CallResult as CallResult,
)
from .workload_identity import WorkloadIdentity

T = TypeVar("T")
Found = TypeVar("Found")


@dataclass(frozen=True)
class RemoteSecretRef:
    """One secret found by a listing."""

    path: str
    version: str | None = None
    updated_at: datetime | None = None
    #: when the secret's content expires or is next rotated, where the store keeps it
    #: (and the call that found it says so); None: unknown or never
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RemoteSecret:
    """One secret read from a backend."""

    path: str
    value: RemoteValue = field(repr=False)
    version: str | None = None
    #: as :attr:`RemoteSecretRef.expires_at`, where the read answers it
    expires_at: datetime | None = None


@dataclass
class Answers(Generic[Found]):
    """The outcome of asking about many paths: every requested path is in exactly one
    field."""

    found: dict[str, Found] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, BackendError] = field(default_factory=dict)


@dataclass
class BatchResult(Answers[RemoteSecret]):
    """The values of many paths (:meth:`SecretBackend.get_many`)."""


@dataclass
class Described(Answers[RemoteSecretRef]):
    """The metadata of many paths (:meth:`SecretBackend.describe_secrets`)."""


async def collected(pages: AsyncIterator[list[RemoteSecretRef]]) -> list[RemoteSecretRef]:
    """Every ref of ``pages``, each path once, in order of path (:meth:`list_secrets` of
    a store that lists in pages)."""
    refs = {ref.path: ref async for page in pages for ref in page}
    return sorted(refs.values(), key=lambda ref: ref.path)


def call_result(error: BaseException | None) -> CallResult:
    """The counter bucket of a call that ended with ``error`` (``None``: success)."""
    if error is None:
        return "ok"
    return error.call_result if isinstance(error, BackendError) else "error"


async def gather_or_raise(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` concurrently; the first failure cancels the rest and is raised as is."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failures:
        raise _first_leaf(failures) from None
    return [task.result() for task in tasks]


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    backend = [exc for exc in leaves if isinstance(exc, BackendError)]
    return (backend or leaves)[0]


async def read_concurrently(
    get: Callable[[str, str | None], Awaitable[RemoteSecret]],
    paths: Sequence[str],
    concurrency: int,
    versions: Mapping[str, str] | None = None,
) -> BatchResult:
    """``get(path, version)`` every path, at most ``concurrency`` at once, for stores
    without a batch read (``version`` from ``versions``, else None: the current one).

    Once the store is down or throttling, the remaining paths fail with that same
    error instead of being asked for.
    """
    pinned = versions or {}
    result = BatchResult()
    await ask_concurrently(result, lambda path: get(path, pinned.get(path)), paths, concurrency)
    return result


async def describe_concurrently(
    describe: Callable[[str], Awaitable[RemoteSecretRef]], paths: Sequence[str], concurrency: int
) -> Described:
    """``describe(path)`` every path, at most ``concurrency`` at once, for stores that
    look secrets up one at a time (as :func:`read_concurrently`)."""
    result = Described()
    await ask_concurrently(result, describe, paths, concurrency)
    return result


async def ask_concurrently(
    result: Answers[Found],
    ask: Callable[[str], Awaitable[Found]],
    paths: Sequence[str],
    concurrency: int,
) -> None:
    """``ask(path)`` every path into ``result``, at most ``concurrency`` at once; a
    ``SecretNotFoundError`` makes the path missing (in the order asked). Once the
    store is down or throttling, the remaining paths fail with that same error
    instead of being asked for."""
    unique = list(dict.fromkeys(paths))
    slots = asyncio.Semaphore(concurrency)
    stop: list[BackendError] = []

    async def one(path: str) -> None:
        async with slots:
            if stop:
                result.failed[path] = stop[0]
                return
            try:
                result.found[path] = await ask(path)
            except SecretNotFoundError:
                result.missing.append(path)
            except (BackendUnavailableError, ThrottledError) as error:
                stop.append(error)
                result.failed[path] = error
            except BackendError as error:
                result.failed[path] = error

    await gather_or_raise(one(path) for path in unique)
    missing = set(result.missing)
    result.missing = [path for path in unique if path in missing]


class CallCounter:
    """API calls made by one backend, by ``(operation, result)``."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, operation: str, result: CallResult) -> None:
        self._counts[(operation, result)] += 1

    def get(self, operation: str, result: CallResult | None = None) -> int:
        """Calls of ``operation``, all results together unless ``result`` is given."""
        if result is not None:
            return self._counts[(operation, result)]
        return sum(n for (op, _), n in self._counts.items() if op == operation)

    def snapshot(self) -> dict[tuple[str, str], int]:
        return dict(self._counts)

    def total(self) -> int:
        return sum(self._counts.values())

    def reset(self) -> None:
        self._counts.clear()

    def __repr__(self) -> str:
        return f"CallCounter({dict(self._counts)!r})"


@dataclass(frozen=True)
class Credentials:
    """Key -> bytes read from the credentials Secret in the CR's namespace (may be empty)."""

    values: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    #: a fresh Kubernetes ServiceAccount token of the CR's namespace, on demand
    #: (a login with a ServiceAccount token whose credentials Secret holds none)
    service_account_token: Callable[[], Awaitable[str]] | None = field(
        default=None, repr=False, compare=False
    )
    #: the config names no credentials Secret and its namespace may use the operator's
    #: own identity (a cloud SDK's default chain, workload or managed identity):
    #: without it, a client that finds no static credentials refuses to reach for one
    ambient: bool = False
    #: the ServiceAccount a keyless login exchanges tokens of (``serviceAccount``)
    workload_identity: WorkloadIdentity | None = field(default=None, repr=False, compare=False)

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    def require(self, key: str) -> bytes:
        """The value under ``key``; a missing or empty key is a configuration error."""
        value = self.values.get(key)
        if not value:
            raise InvalidBackendConfigError(f"credentials key {key!r} is missing or empty")
        return value

    def require_text(self, key: str) -> str:
        """``require(key)`` as UTF-8 text without surrounding whitespace (a trailing newline
        is common in Secrets made from files)."""
        try:
            text = self.require(key).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidBackendConfigError(f"credentials key {key!r} is not UTF-8 text") from None
        if not text:
            raise InvalidBackendConfigError(f"credentials key {key!r} is missing or empty")
        return text

    def __repr__(self) -> str:
        keyless = self.workload_identity
        account = f", workload_identity={keyless.who!r}" if keyless is not None else ""
        return f"Credentials(keys={sorted(self.values)!r}, ambient={self.ambient}{account})"

    def no_static(self, keys: Sequence[str], what: str) -> InvalidBackendConfigError:
        """The error of a client that found no static credentials and may not use the
        operator's own identity (its keys named, never values)."""
        return InvalidBackendConfigError(
            f"{what} needs the credentials key{'s' if len(keys) > 1 else ''} "
            f"{', '.join(repr(k) for k in keys)} (the operator's own identity is used "
            "only for a backend that names no credentials Secret, in a namespace allowed it)"
        )


class SecretBackend(Protocol):
    """An async client of one remote secret store."""

    backend_type: ClassVar[str]
    calls: CallCounter

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        """Every secret under ``prefix``, recursively.

        ``prefix`` is a literal template prefix ending in ``/``, or ending
        inside a segment (``prod/db-`` lists ``prod/db-a`` and ``prod/db-b/x``,
        never ``prod/dbx``), or ``""`` for everything the credentials can see.
        """
        ...

    def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        """:meth:`list_secrets` a page at a time, each as the store answers it (in no
        particular order; every secret under ``prefix`` once over all pages), so a
        sync can start on the first pages while the store lists the rest."""
        ...

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        """The current value at ``path`` (or the value of ``version``: see
        :meth:`get_many`); ``SecretNotFoundError`` when there is none."""
        ...

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        """Read many paths with as few calls as the backend allows.

        A path in ``versions`` is read at that version instead of the current
        one, in the store's own terms (a version id, number, alias or label). A
        pinned read may cost a call of its own.
        """
        ...

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        """The metadata of literal ``paths`` without listing anything: each one's current
        version and update time (when the store keeps them), the version a read would
        answer. A path a read would not find (absent, switched off, deleted, or one the
        store cannot name) is missing. A store with no metadata-only lookup may read
        the value and keep only its metadata. At most one call per path.
        """
        ...

    async def probe(self) -> float:
        """A real round trip proving the credentials work; the latency in ms (> 0)."""
        ...

    async def release(self) -> None:
        """Drop what a backend waiting for its next sync need not hold (connections,
        HTTP clients); the next call makes them again. Tokens and credentials stay."""
        ...

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
