"""One sync of one FederationBackend: list, fetch what changed, plan, write.

No kopf here: the worker calls :func:`run_sync` and turns its outcome or its
exception into status, events and the next due time. A Kubernetes write that
fails (a write, a delete, an orphan mark) fails that path only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..backends.base import RemoteSecretRef, SecretBackend
from ..k8s.client import KubeApiError
from ..models.content import InvalidContentError, to_secret_data
from ..models.secret import LocalSecret, RemoteItem
from ..models.spec import BackendSpec
from ..models.status import Conflict
from ..paths import PathMapping, PathScope, secret_name_for_path
from .plan import (
    ConflictReason,
    PlannedConflict,
    SyncPlan,
    map_remote,
    needs_fetch,
    plan_sync,
)
from .ports import SecretStorage

log = logging.getLogger(__name__)


@dataclass
class SyncOutcome:
    secrets_synced: int = 0
    written: int = 0
    deleted: int = 0
    orphaned: int = 0
    conflicts: list[PlannedConflict] = field(default_factory=list)
    item_errors: dict[str, str] = field(default_factory=dict)  # local path -> reason
    duration_ms: int = 0
    takeovers: list[str] = field(default_factory=list)
    #: the paths of a per-path sync; None for a full one
    paths: PathScope | None = None


def listing_prefixes(mappings: Sequence[PathMapping]) -> list[str]:
    """The distinct remote prefixes to list, without ones another prefix covers."""
    prefixes = sorted({m.remote.literal_prefix for m in mappings})
    kept: list[str] = []
    for prefix in prefixes:
        if not any(prefix.startswith(other) for other in kept):
            kept.append(prefix)
    return kept


@dataclass
class SyncContext:
    namespace: str
    name: str
    spec: BackendSpec
    backend: SecretBackend
    store: SecretStorage
    mac_key: bytes
    #: a per-path sync: only the ScaiVault paths these match are read (always, whatever
    #: their listed version), written, orphaned or pruned; nothing else is touched
    paths: PathScope | None = None
    #: the conflicts the status lists now; a per-path sync keeps those outside its paths
    previous_conflicts: Sequence[Conflict] = ()


async def run_sync(ctx: SyncContext) -> SyncOutcome:
    """Raises :class:`BackendError` when the backend cannot be listed; writes nothing then."""
    started = time.perf_counter()
    mappings = ctx.spec.mappings
    scope = ctx.paths
    refs: dict[str, RemoteSecretRef] = {}
    for prefix in listing_prefixes(mappings):
        for ref in await ctx.backend.list_secrets(prefix):
            refs[ref.path] = ref
    mapped = map_remote(mappings, refs)
    wanted = {
        remote: local
        for remote, local in mapped.local_by_remote.items()
        if scope is None or scope.matches(local)
    }
    local = await _load_local(ctx, wanted.values())

    to_fetch: list[str] = []
    unchanged_versions: dict[str, str] = {}
    for remote_path, local_path in wanted.items():
        version = refs[remote_path].version
        existing = local.get(secret_name_for_path(local_path))
        if (
            scope is not None
            or version is None
            or needs_fetch(version, existing, ctx.mac_key, ctx.name)
        ):
            to_fetch.append(remote_path)
        else:
            unchanged_versions[local_path] = version

    outcome = SyncOutcome(
        conflicts=[c for c in mapped.conflicts if scope is None or scope.matches(c.path)],
        paths=scope,
    )
    items: list[RemoteItem] = []
    failed: list[str] = []
    if to_fetch:
        batch = await ctx.backend.get_many(to_fetch)
        for remote_path, secret in batch.found.items():
            local_path = mapped.local_by_remote[remote_path]
            try:
                data = to_secret_data(secret.value)
            except InvalidContentError as exc:
                outcome.item_errors[local_path] = str(exc)
                failed.append(local_path)
                continue
            items.append(RemoteItem(local_path, remote_path, data, secret.version))
        for remote_path, error in batch.failed.items():
            local_path = mapped.local_by_remote[remote_path]
            outcome.item_errors[local_path] = error.message
            failed.append(local_path)
        # A secret listed then gone before the read is simply absent this round.

    plan = plan_sync(
        backend_name=ctx.name,
        items=items,
        unchanged_versions=unchanged_versions,
        local=local if scope is None else _within(scope, local, wanted.values()),
        key=ctx.mac_key,
        policy=ctx.spec.conflict_policy,
        prune=ctx.spec.prune,
        listing_complete=True,
        failed_paths=failed,
    )
    await _apply(ctx, plan, local, outcome)
    outcome.conflicts.extend(plan.conflicts)
    outcome.secrets_synced = plan.synced_paths - len(
        [w for w in plan.writes if w.item.local_path in outcome.item_errors]
    )
    if scope is not None:
        outcome.secrets_synced += _synced_outside(ctx.name, scope, local, mapped.local_by_remote)
        outcome.conflicts.extend(conflicts_outside(scope, ctx.previous_conflicts))
    outcome.duration_ms = max(1, round((time.perf_counter() - started) * 1000))
    return outcome


def _within(
    scope: PathScope, local: dict[str, LocalSecret], wanted: Iterable[str]
) -> dict[str, LocalSecret]:
    """The local Secrets a per-path sync may act on: those holding a path of its scope,
    and those at the names its paths map to."""
    names = {secret_name_for_path(path) for path in wanted}
    return {
        name: secret
        for name, secret in local.items()
        if name in names or (secret.path is not None and scope.matches(secret.path))
    }


def _synced_outside(
    backend_name: str,
    scope: PathScope,
    local: dict[str, LocalSecret],
    local_by_remote: dict[str, str],
) -> int:
    """Listed paths outside a per-path sync that this backend's Secrets hold (as the last
    sync left them), so the synced figure stays the backend's, not the sync's."""
    count = 0
    for path in local_by_remote.values():
        if scope.matches(path):
            continue
        secret = local.get(secret_name_for_path(path))
        if (
            secret is not None
            and secret.managed_by == backend_name
            and secret.path == path
            and not secret.orphaned
        ):
            count += 1
    return count


def conflicts_outside(scope: PathScope, previous: Iterable[Conflict]) -> list[PlannedConflict]:
    """The listed conflicts a per-path sync did not look at, kept as they were."""
    kept: list[PlannedConflict] = []
    reasons = {reason.value: reason for reason in ConflictReason}
    for conflict in previous:
        reason = reasons.get(conflict.reason)
        if reason is not None and not scope.matches(conflict.path):
            kept.append(PlannedConflict(conflict.path, conflict.remote_path, reason))
    return kept


async def _load_local(ctx: SyncContext, local_paths: Iterable[str]) -> dict[str, LocalSecret]:
    """Secrets this backend manages, plus any at a name a remote path maps to."""
    managed = await ctx.store.list_managed(ctx.namespace, ctx.name)
    local = {s.name: s for s in managed}
    for path in sorted(set(local_paths)):
        name = secret_name_for_path(path)
        if name not in local:
            found = await ctx.store.get(ctx.namespace, name)
            if found is not None:
                local[name] = found
    return local


async def _apply(
    ctx: SyncContext, plan: SyncPlan, local: dict[str, LocalSecret], outcome: SyncOutcome
) -> None:
    for write in plan.writes:
        try:
            await ctx.store.write_synced(
                ctx.namespace,
                write.name,
                backend_name=ctx.name,
                path=write.item.local_path,
                remote_path=write.item.remote_path,
                remote_version=write.item.version,
                data=write.item.data,
                mac=write.mac,
                existing=local.get(write.name),
            )
        except KubeApiError as exc:
            outcome.item_errors[write.item.local_path] = f"write failed: {exc.status_reason}"
            continue
        outcome.written += 1
        if write.takeover:
            outcome.takeovers.append(write.item.local_path)
    for orphan in plan.deletes:
        try:
            await ctx.store.delete(ctx.namespace, orphan.name, orphan.resource_version)
        except KubeApiError as exc:
            outcome.item_errors[orphan.path] = f"delete failed: {exc.status_reason}"
            continue
        outcome.deleted += 1
    for orphan in plan.orphans:
        if not local[orphan.name].orphaned:
            try:
                await ctx.store.mark_orphaned(ctx.namespace, orphan.name)
            except KubeApiError as exc:
                outcome.item_errors[orphan.path] = f"marking orphaned failed: {exc.status_reason}"
                continue
        outcome.orphaned += 1
