"""Which backends a secret change concerns, and their ScaiVault paths for it.

A change concerns every sync-mode, unsuspended backend of the change's store
(same type; AWS: same region; Google: same project, see below; Azure: the
vault of the backend's ``vaultUrl``) whose ``pathMapping`` maps the secret:
the store's name becomes a backend path (Key Vault and Google names through
the naming rule), and the first mapping that maps it back gives the
ScaiVault path, exactly as a sync would.

A ClusterFederationBackend maps with its mappings in each namespace it
selects (``{namespace}`` made concrete): the change concerns it when one of
them maps the secret, with every ScaiVault path so found.

Google names projects by number in events and by id or number in a
backend's ``project``; a number matches a backend configured by id (it cannot
be told apart here), so such a change re-reads a path in every such backend
that maps it: an extra read, never a wrong write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...backends.aws.config import NAME as AWS
from ...backends.aws.config import AwsConfig
from ...backends.azure.config import NAME as AZURE
from ...backends.azure.config import AzureConfig
from ...backends.google.config import NAME as GOOGLE
from ...backends.google.config import GoogleConfig
from ...backends.naming import azure_path, google_path
from ...models.resource import FederationBackendResource
from ...models.spec import Mode
from ...paths import InvalidPathError, PathMapping
from .events import SecretChange, vault_origin


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


def _same_vault(config: AzureConfig, change: SecretChange) -> bool:
    origin = vault_origin(config.vault_url)
    if origin is None:
        return False
    if change.vault_origin is not None and change.vault_origin == origin:
        return True
    host = origin.split("://", 1)[1].split(":", 1)[0]
    label = host.split(".", 1)[0]
    return (
        change.vault_name is not None
        and "." in host
        and not host.replace(".", "").isdigit()
        and label == change.vault_name
    )


def _same_project(config: GoogleConfig, change: SecretChange) -> bool:
    if change.project is None or change.project == config.project:
        return True
    return change.project.isdigit() and not config.project.isdigit()


def backend_path(backend: FederationBackendResource, change: SecretChange) -> str | None:
    """The backend path of the changed secret, if ``backend`` reads that store."""
    spec = backend.spec
    if spec is None or spec.type != change.provider:
        return None
    config = spec.config
    if change.provider == AWS:
        assert isinstance(config, AwsConfig)
        if change.region is not None and change.region != config.region:
            return None
        return change.name
    if change.provider == GOOGLE:
        assert isinstance(config, GoogleConfig)
        return google_path(change.name) if _same_project(config, change) else None
    if change.provider == AZURE:
        assert isinstance(config, AzureConfig)
        return azure_path(change.name) if _same_vault(config, change) else None
    return None


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
