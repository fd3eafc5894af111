"""What a sync asks the backend before it reads: which remote prefixes to list and
which literal remote paths to look up one by one.

A full sync lists each mapping's literal prefix once and takes a mapping without
wildcards as the one path it names. A per-path sync asks only about its own paths:
a concrete ScaiVault path becomes the remote path each mapping gives it, described
without listing anything (:meth:`SecretBackend.describe_secrets`; a per-path sync's
client describes by reading, :mod:`.described_by_reading`); a pattern lists
only the remote prefix its own literal prefix narrows each mapping to
(:meth:`PathMapping.remote_prefix_for`), and describes the one path it matches
outside that prefix (``app/web/**`` matches ``app/web``). Either way every remote path that can map
to a path of the sync is asked about, so which remote path a ScaiVault path comes
from, and whether it still has one, is decided as a full sync decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..backends.base import Described, RemoteSecretRef, SecretBackend
from ..backends.errors import AuthenticationError, BackendError
from ..paths import PathMapping, PathPattern, PathScope


@dataclass(frozen=True)
class RemoteScope:
    """Remote prefixes to list, none covering another, and remote paths no prefix
    covers (a listing of ``path/`` never answers ``path``)."""

    prefixes: tuple[str, ...]
    paths: tuple[str, ...]

    @classmethod
    def of(cls, prefixes: Iterable[str], paths: Iterable[str]) -> RemoteScope:
        kept: list[str] = []
        for prefix in sorted(set(prefixes)):
            if not any(prefix.startswith(other) for other in kept):
                kept.append(prefix)
        alone = sorted(p for p in set(paths) if not any(p.startswith(k) for k in kept))
        return cls(tuple(kept), tuple(alone))


def remote_scope(mappings: Sequence[PathMapping], scope: PathScope | None = None) -> RemoteScope:
    """What to ask the backend for a sync of ``mappings`` (only ``scope``'s paths, if
    given)."""
    prefixes: list[str] = []
    paths: list[str] = []
    if scope is None:
        for mapping in mappings:
            if mapping.remote.is_literal:
                paths.append(mapping.remote.pattern)
            else:
                prefixes.append(mapping.remote.literal_prefix)
        return RemoteScope.of(prefixes, paths)
    for entry in scope.patterns:
        concrete = [entry.pattern] if entry.is_literal else _bare_prefix(entry)
        for mapping in mappings:
            for local in concrete:
                remote = mapping.to_remote(local)
                if remote is not None:
                    paths.append(remote)
            if entry.is_literal:
                continue
            if mapping.remote.is_literal:
                if entry.match(mapping.local.pattern) is not None:
                    paths.append(mapping.remote.pattern)
            else:
                prefix = mapping.remote_prefix_for(entry)
                if prefix is not None:
                    prefixes.append(prefix)
    return RemoteScope.of(prefixes, paths)


def _bare_prefix(entry: PathPattern) -> list[str]:
    """The one path ``entry`` matches that does not start with its literal prefix: the
    prefix without its ``/`` when a trailing ``**`` may match nothing (``app/web/**``
    matches ``app/web``)."""
    bare = entry.literal_prefix.removesuffix("/")
    if not bare or bare == entry.literal_prefix or entry.match(bare) is None:
        return []
    return [bare]


async def remote_refs(
    backend: SecretBackend,
    remote: RemoteScope,
    *,
    describe: bool,
    listed: Callable[[list[RemoteSecretRef]], None] | None = None,
) -> dict[str, RemoteSecretRef]:
    """Every remote path ``remote`` covers that the backend holds, by path: the prefixes
    listed (each page handed to ``listed`` as it comes), the paths described
    (``describe``) or taken as they are (their version unknown: read, absent when
    missing).

    Raises the :class:`BackendError` of a listing that fails, and of a description that
    says the store, not a path, failed (:func:`_store_failure`). A path whose
    description failed otherwise is taken as it is: its read says what is wrong."""
    refs: dict[str, RemoteSecretRef] = {}
    for prefix in remote.prefixes:
        async for page in backend.list_pages(prefix):
            fresh = [ref for ref in page if ref.path not in refs]
            refs.update((ref.path, ref) for ref in fresh)
            if listed is not None and fresh:
                listed(fresh)
    if not describe:
        refs.update((path, RemoteSecretRef(path)) for path in remote.paths)
        return refs
    if remote.paths:
        described = await backend.describe_secrets(remote.paths)
        failure = _store_failure(described)
        if failure is not None:
            raise failure
        refs.update(described.found)
        refs.update((path, RemoteSecretRef(path)) for path in described.failed)
    return refs


def _store_failure(described: Described) -> BackendError | None:
    """A failure of the store rather than of a path: it is down or throttling, or it
    refused every path it was asked about (the credentials)."""
    errors = list(described.failed.values())
    retryable = next((error for error in errors if error.retryable), None)
    if retryable is not None:
        return retryable
    refused = errors and all(isinstance(error, AuthenticationError) for error in errors)
    if refused and not described.found and not described.missing:
        return errors[0]
    return None
