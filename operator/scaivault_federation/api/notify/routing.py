"""Which backends a secret change concerns, and their ScaiVault paths for it.

A change concerns every sync-mode, unsuspended backend of the change's type
whose store it is (the change says: :meth:`SecretChange.backend_path`, by a
region, a project, an account) and whose ``pathMapping`` maps the secret's
backend path: the first mapping that maps it back gives the ScaiVault path,
exactly as a sync would.

A ClusterFederationBackend maps with its mappings in each namespace it
selects (``{namespace}`` made concrete): the change concerns it when one of
them maps the secret, with every ScaiVault path so found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...backends.changes import SecretChange
from ...models.resource import FederationBackendResource
from ...models.spec import Mode
from ...paths import InvalidPathError, PathMapping


@dataclass
class Target:
    """A backend to sync, and the paths of it to sync."""

    backend: FederationBackendResource
    paths: list[str]


@dataclass(frozen=True)
class MappingClaim:
    """A backend and the groups of mappings it syncs by: its own for a
    FederationBackend, one per namespace it selects for a cluster backend."""

    backend: FederationBackendResource
    per_namespace: Sequence[Sequence[PathMapping]]


def backend_path(backend: FederationBackendResource, change: SecretChange) -> str | None:
    """The backend path of the changed secret, if ``backend`` reads that store."""
    spec = backend.spec
    if spec is None or spec.type != change.provider:
        return None
    return change.backend_path(spec.config)


def local_path(mappings: Iterable[PathMapping], remote: str) -> str | None:
    """The ScaiVault path ``mappings`` sync ``remote`` to (the first mapping that maps
    it, as in a sync)."""
    for mapping in mappings:
        try:
            local = mapping.to_local(remote)
        except InvalidPathError:
            return None
        if local is not None:
            return local
    return None


def route(
    changes: Iterable[SecretChange],
    backends: Iterable[FederationBackendResource],
    clusters: Iterable[MappingClaim] = (),
) -> list[Target]:
    """The backends to sync for ``changes`` (each once, with every path it maps):
    FederationBackends by their mappings, cluster backends by theirs in each
    namespace they select."""
    candidates = [
        MappingClaim(b, [b.mappings]) for b in backends if _syncs(b) and b.kind.namespaced
    ] + [claim for claim in clusters if _syncs(claim.backend) and not claim.backend.kind.namespaced]
    found: dict[str, Target] = {}
    for change in changes:
        for claim in candidates:
            remote = backend_path(claim.backend, change)
            if remote is None:
                continue
            for mappings in claim.per_namespace:
                path = local_path(mappings, remote)
                if path is None:
                    continue
                target = found.setdefault(claim.backend.uid, Target(claim.backend, []))
                if path not in target.paths:
                    target.paths.append(path)
    return sorted(
        found.values(),
        key=lambda t: (not t.backend.kind.namespaced, t.backend.namespace, t.backend.name),
    )


def _syncs(backend: FederationBackendResource) -> bool:
    spec = backend.spec
    return spec is not None and spec.mode is Mode.SYNC and not spec.suspend
