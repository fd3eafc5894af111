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
from ..models.content import InvalidContentError
from ..models.secret import LocalSecret, RemoteItem
from ..models.spec import BackendSpec
from ..paths import PathMapping
from .plan import PlannedConflict, SyncPlan, map_remote, needs_fetch, plan_sync
from .ports import SecretStorage
from .targets import PathTargets, ShapeError

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
    #: names of existing Secrets whose data or type this sync changed
    changed: list[str] = field(default_factory=list)


def listing_prefixes(mappings: Sequence[PathMapping]) -> list[str]:
    """The distinct remote prefixes to list, without ones another prefix covers (a
    mapping without wildcards lists by its whole path, which names it and its kin)."""
    prefixes = sorted(
        {m.remote.pattern if m.remote.is_literal else m.remote.literal_prefix for m in mappings}
    )
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
    #: read every mapped secret even if its version is unchanged (the target changed)
    refetch: bool = False


async def run_sync(ctx: SyncContext) -> SyncOutcome:
    """Raises :class:`BackendError` when the backend cannot be listed; writes nothing then."""
    started = time.perf_counter()
    mappings = ctx.spec.mappings
    refs: dict[str, RemoteSecretRef] = {}
    for prefix in listing_prefixes(mappings):
        for ref in await ctx.backend.list_secrets(prefix):
            refs[ref.path] = ref
    mapped = map_remote(mappings, refs)
    outcome = SyncOutcome(conflicts=list(mapped.conflicts))
    targets = PathTargets(ctx.spec.target, mapped)
    outcome.item_errors.update(targets.errors)
    failed: list[str] = list(targets.errors)
    local = await _load_local(ctx, targets.names.values())

    to_fetch: list[str] = []
    pins: dict[str, str] = {}
    unchanged_versions: dict[str, str] = {}
    for remote_path, local_path in mapped.local_by_remote.items():
        name = targets.names.get(local_path)
        if name is None:
            continue  # its Secret name failed: an item error already
        pin = targets.pin(local_path)
        version = pin or refs[remote_path].version
        existing = local.get(name)
        if targets.created_once and existing is not None and existing.managed_by == ctx.name:
            unchanged_versions[local_path] = existing.remote_version or ""
        elif (
            ctx.refetch
            or version is None
            or needs_fetch(version, existing, ctx.mac_key, ctx.name, targeted=targets.active)
        ):
            to_fetch.append(remote_path)
            if pin is not None:
                pins[remote_path] = pin
        else:
            unchanged_versions[local_path] = version

    items: list[RemoteItem] = []
    if to_fetch:
        if pins:
            batch = await ctx.backend.get_many(to_fetch, versions=pins)
        else:
            batch = await ctx.backend.get_many(to_fetch)
        for remote_path, secret in batch.found.items():
            local_path = mapped.local_by_remote[remote_path]
            try:
                items.append(targets.item(local_path, remote_path, secret.value, secret.version))
            except (InvalidContentError, ShapeError) as exc:
                outcome.item_errors[local_path] = str(exc)
                failed.append(local_path)
        for remote_path, error in batch.failed.items():
            local_path = mapped.local_by_remote[remote_path]
            outcome.item_errors[local_path] = error.message
            failed.append(local_path)
        # A secret listed then gone before the read is simply absent this round.

    plan = plan_sync(
        backend_name=ctx.name,
        items=items,
        unchanged_versions=unchanged_versions,
        local=local,
        key=ctx.mac_key,
        policy=ctx.spec.conflict_policy,
        prune=ctx.spec.prune,
        listing_complete=True,
        failed_paths=failed,
        names=targets.names if targets.active else None,
    )
    await _apply(ctx, plan, local, outcome)
    outcome.conflicts.extend(plan.conflicts)
    outcome.secrets_synced = plan.synced_paths - len(
        [w for w in plan.writes if w.item.local_path in outcome.item_errors]
    )
    outcome.duration_ms = max(1, round((time.perf_counter() - started) * 1000))
    return outcome


async def _load_local(ctx: SyncContext, names: Iterable[str]) -> dict[str, LocalSecret]:
    """Secrets this backend manages, plus any at a name a remote path maps to."""
    managed = await ctx.store.list_managed(ctx.namespace, ctx.name)
    local = {s.name: s for s in managed}
    for name in sorted(set(names)):
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
                shape=write.shape,
            )
        except KubeApiError as exc:
            outcome.item_errors[write.item.local_path] = f"write failed: {exc.status_reason}"
            continue
        outcome.written += 1
        if write.changes_data:
            outcome.changed.append(write.name)
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
