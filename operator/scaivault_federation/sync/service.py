"""One sync of one backend into one namespace: list (or, for some paths only, look
those up), fetch what changed, plan, write.

The worker calls :func:`run_sync` (once per namespace for a backend that syncs
into several) and turns its outcome or its exception into status, events and
the next due time. A Kubernetes write that
fails (a write, a delete, an orphan mark) fails that path only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..backends.base import BatchResult, RemoteSecretRef, SecretBackend
from ..models.content import InvalidContentError
from ..models.secret import LocalSecret, RemoteItem, holds_a_path
from ..models.spec import BackendSpec
from ..models.status import Conflict, RecordedName
from ..paths import PathScope, secret_name_for_path
from .apply import Applied, Applier
from .described_by_reading import DescribedByReading
from .early_paths import EarlyPaths
from .plan import (
    ConflictReason,
    MappedRemote,
    PlannedConflict,
    Planner,
    SyncPlan,
    Write,
    map_remote,
    needs_fetch,
)
from .ports import SecretStorage
from .read_parts import READ_PART, each_part, read_parts
from .remote_scope import remote_refs, remote_scope
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
    #: the paths of a per-path sync; None for a full one
    paths: PathScope | None = None
    #: names of existing Secrets whose data or type this sync changed
    changed: list[str] = field(default_factory=list)
    #: the Secrets whose name a template gave, after the sync (for the status)
    secret_names: list[RecordedName] = field(default_factory=list)
    #: a sync of several namespaces (a cluster backend's): each namespace's outcome,
    #: added up in the figures above (:meth:`add`)
    namespaces: dict[str, SyncOutcome] = field(default_factory=dict)
    #: namespaces no longer selected -> how many Secrets were released or deleted there
    dropped: dict[str, int] = field(default_factory=dict)
    #: (namespace, name) of each Secret holding its remote value after the sync whose
    #: remote secret has a known expiry -> that expiry, in Unix seconds
    expiries: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, namespace: str, outcome: SyncOutcome) -> None:
        """Count one namespace's sync in."""
        self.namespaces[namespace] = outcome
        self.secrets_synced += outcome.secrets_synced
        self.written += outcome.written
        self.deleted += outcome.deleted
        self.orphaned += outcome.orphaned
        self.duration_ms += outcome.duration_ms
        self.conflicts.extend(outcome.conflicts)
        self.item_errors.update({f"{namespace}:{p}": e for p, e in outcome.item_errors.items()})
        self.takeovers.extend(f"{p} (namespace {namespace})" for p in outcome.takeovers)
        self.expiries.update(outcome.expiries)


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
    #: read every mapped secret even if its version is unchanged (the target changed)
    refetch: bool = False


@dataclass
class _Reads:
    """What a sync reads from the backend: remote paths (in order of local path), the
    pinned version of some, and the local paths whose listed version says nothing
    changed (with that version)."""

    paths: list[str] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)
    unchanged: dict[str, str] = field(default_factory=dict)


async def run_sync(ctx: SyncContext) -> SyncOutcome:
    """Raises :class:`BackendError` when the backend cannot be listed (or, for a per-path
    sync, its paths cannot be looked up); nothing is deleted or orphaned then, and only
    paths that plan alone may have been written from the listing's first pages
    (:mod:`.early_paths`)."""
    started = time.perf_counter()
    run = _Run(ctx)
    applier = Applier(ctx.store, ctx.namespace, ctx.name, ctx.mac_key, ctx.spec.conflict_policy)
    async with contextlib.aclosing(run.writes()) as writes:
        await applier.stream(writes, run.local)
    planner, targets, outcome = run.planner, run.targets, run.outcome
    assert planner is not None and targets is not None
    plan = planner.finish(
        unchanged=run.unchanged,
        failed_paths=run.failed,
        prune=ctx.spec.prune,
        listing_complete=True,
        names=targets.names if targets.active else None,
    )
    applied = await applier.apply(SyncPlan(deletes=plan.deletes, orphans=plan.orphans), run.local)
    _count_applied(outcome, plan, applied)
    outcome.expiries = _expiries(ctx.namespace, run.expiring, plan, outcome, applied)
    if ctx.paths is not None:
        outcome.secrets_synced += run.synced_outside
        outcome.conflicts.extend(conflicts_outside(ctx.paths, ctx.previous_conflicts))
    outcome.duration_ms = max(1, round((time.perf_counter() - started) * 1000))
    return outcome


@dataclass
class _Run:
    """One sync as its writes are made: what it learns on the way, for the plan's end."""

    ctx: SyncContext
    outcome: SyncOutcome = field(init=False)
    #: the Secrets it acts on, by name (filled before its first write)
    local: dict[str, LocalSecret] = field(default_factory=dict)
    planner: Planner | None = None
    targets: PathTargets | None = None
    #: local paths not read, their listed version saying nothing changed
    unchanged: dict[str, str] = field(default_factory=dict)
    #: local paths that failed: neither written nor orphaned
    failed: list[str] = field(default_factory=list)
    synced_outside: int = 0
    #: local path -> its Secret's name and the expiry the backend gave, where it gave one
    expiring: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    _loaded: bool = False

    def __post_init__(self) -> None:
        self.outcome = SyncOutcome(paths=self.ctx.paths)
        self.backend: SecretBackend = self.ctx.backend

    async def _load_all(self) -> None:
        """Every Secret of the backend, once (a full sync's)."""
        if not self._loaded:
            self._loaded = True
            self.local.update((await _load_local(self.ctx, set()))[0])

    def _planner(self) -> Planner:
        ctx = self.ctx
        return Planner(ctx.name, self.local, ctx.mac_key, ctx.spec.conflict_policy)

    async def writes(self) -> AsyncGenerator[list[Write], None]:
        """The sync's writes, part by part: first those of the paths a full sync handles
        while the store is still listing, then the rest once the listing is whole."""
        ctx, scope = self.ctx, self.ctx.paths
        remote = remote_scope(ctx.spec.mappings, scope)
        early: EarlyPaths | None = None
        if scope is None:
            self.planner = self._planner()  # on self.local, filled before its first use
            if ctx.spec.target is None:
                early = EarlyPaths(
                    ctx.spec.mappings,
                    self.local,
                    ctx.mac_key,
                    ctx.name,
                    refetch=ctx.refetch,
                    part=READ_PART,
                    ready=self._load_all,
                )
        else:
            # its paths are read whatever their version: reading them tells whether
            # they exist, with no call of its own
            self.backend = DescribedByReading(ctx.backend)
        listing = asyncio.ensure_future(
            remote_refs(
                self.backend,
                remote,
                describe=scope is not None,
                listed=early.listed if early is not None else None,
            )
        )
        try:
            if early is not None:
                assert self.planner is not None
                nobody = PathTargets(None, MappedRemote({}, []))
                reads = read_parts(ctx.backend, early.parts(listing), {})
                async for writes in self._planned(reads, early.local_of, nobody, self.planner):
                    yield writes
            refs = await listing
        finally:
            if not listing.done():
                listing.cancel()
                with contextlib.suppress(BaseException):
                    await listing
        handled = early.local_of if early is not None else {}
        self._expiring(refs, handled, secret_name_for_path)
        if early is not None:
            self.unchanged.update(early.unchanged)
            assert self.planner is not None
            self.planner.plan.unchanged.extend(sorted(early.unchanged))
        async for writes in self._rest(refs, handled):
            yield writes

    async def _rest(
        self, refs: dict[str, RemoteSecretRef], handled: Mapping[str, str]
    ) -> AsyncGenerator[list[Write], None]:
        """The writes of the listed paths not handled early, planned in order of local
        path once the listing is whole."""
        ctx, scope, outcome = self.ctx, self.ctx.paths, self.outcome
        mapped = map_remote(ctx.spec.mappings, refs)
        wanted = {
            remote: local
            for remote, local in mapped.local_by_remote.items()
            if remote not in handled and (scope is None or scope.matches(local))
        }
        outcome.conflicts.extend(
            c for c in mapped.conflicts if scope is None or scope.matches(c.path)
        )
        # named here: the paths not handled early (which have no target to name them)
        rest = MappedRemote(wanted, mapped.conflicts, mapped.captures) if handled else mapped
        self.targets = targets = PathTargets(ctx.spec.target, rest)
        self._expiring(refs, wanted, targets.names.get)
        outcome.item_errors.update(targets.errors)
        self.failed.extend(targets.errors)
        if scope is None:
            await self._load_all()
        else:
            local, self.synced_outside = await _load_local(ctx, _names_of(wanted.values(), targets))
            self.local.update(local)
            self.planner = self._planner()
        assert self.planner is not None
        reads = _reads(ctx, wanted, refs, targets, self.local)
        reads.paths.sort(key=lambda remote: mapped.local_by_remote[remote])
        self.unchanged.update(reads.unchanged)
        self.planner.plan.unchanged.extend(sorted(reads.unchanged))
        parts = read_parts(self.backend, each_part(reads.paths), reads.pins)
        async for writes in self._planned(parts, mapped.local_by_remote, targets, self.planner):
            yield writes

    def _expiring(
        self,
        refs: Mapping[str, RemoteSecretRef],
        local_of: Mapping[str, str],
        name_of: Callable[[str], str | None],
    ) -> None:
        """Note the expiry the listing gave each of ``local_of``'s paths (remote -> local),
        with the name of its Secret (``name_of`` a local path)."""
        for remote_path, local_path in local_of.items():
            expires, name = refs[remote_path].expires_at, name_of(local_path)
            if expires is not None and name is not None:
                self.expiring[local_path] = (name, expires)

    async def _planned(
        self,
        batches: AsyncGenerator[BatchResult, None],
        local_of: Mapping[str, str],
        targets: PathTargets,
        planner: Planner,
    ) -> AsyncGenerator[list[Write], None]:
        """The writes of each part read as its values arrive; a value that cannot become
        a Secret, or could not be read, fails its path."""
        outcome = self.outcome
        async with contextlib.aclosing(batches) as parts:
            async for batch in parts:
                items: list[RemoteItem] = []
                for remote_path, secret in batch.found.items():
                    local_path = local_of[remote_path]
                    try:
                        items.append(
                            targets.item(local_path, remote_path, secret.value, secret.version)
                        )
                    except (InvalidContentError, ShapeError) as exc:
                        outcome.item_errors[local_path] = str(exc)
                        self.failed.append(local_path)
                for remote_path, error in batch.failed.items():
                    local_path = local_of[remote_path]
                    outcome.item_errors[local_path] = error.message
                    self.failed.append(local_path)
                # A secret listed then gone before the read is simply absent this round.
                yield planner.add(items)


def _reads(
    ctx: SyncContext,
    wanted: Mapping[str, str],
    refs: Mapping[str, RemoteSecretRef],
    targets: PathTargets,
    local: Mapping[str, LocalSecret],
) -> _Reads:
    """Which of the ``wanted`` remote paths (-> local path) to read: those the listed
    version, the Secret's MAC or the request says may have changed."""
    reads = _Reads()
    for remote_path, local_path in wanted.items():
        name = targets.names.get(local_path)
        if name is None:
            continue  # its Secret name failed: an item error already
        pin = targets.pin(local_path)
        version = pin or refs[remote_path].version
        existing = local.get(name)
        if targets.created_once and existing is not None and existing.managed_by == ctx.name:
            reads.unchanged[local_path] = existing.remote_version or ""
        elif (
            ctx.paths is not None
            or ctx.refetch
            or version is None
            or needs_fetch(
                version,
                existing,
                ctx.mac_key,
                ctx.name,
                path=local_path,
                remote_path=remote_path,
                targeted=targets.active,
            )
        ):
            reads.paths.append(remote_path)
            if pin is not None:
                reads.pins[remote_path] = pin
        else:
            reads.unchanged[local_path] = version
    return reads


def _count_applied(outcome: SyncOutcome, plan: SyncPlan, applied: Applied) -> None:
    """What the writes, deletes and orphan marks did, into ``outcome``; a path counts
    as synced once its Secret holds its value."""
    outcome.written, outcome.deleted, outcome.orphaned = (
        applied.written,
        applied.deleted,
        applied.orphaned,
    )
    outcome.takeovers.extend(applied.takeovers)
    outcome.changed.extend(applied.changed)
    outcome.item_errors.update(applied.item_errors)
    outcome.conflicts.extend(plan.conflicts)
    outcome.conflicts.extend(applied.conflicts)
    outcome.secrets_synced = plan.synced_paths - len(
        [
            w
            for w in plan.writes
            if w.item.local_path in outcome.item_errors or w.item.local_path in applied.not_written
        ]
    )


def _expiries(
    namespace: str,
    expiring: Mapping[str, tuple[str, datetime]],
    plan: SyncPlan,
    outcome: SyncOutcome,
    applied: Applied,
) -> dict[tuple[str, str], float]:
    """The expiry of each Secret that holds its remote value after the sync (written or
    unchanged), of the paths whose backend gave one (``expiring``: local path -> its
    Secret's name and the expiry)."""
    failed = outcome.item_errors.keys() | applied.not_written
    holding = {w.item.local_path for w in plan.writes} - failed
    holding.update(plan.unchanged)
    return {
        (namespace, name): expires.timestamp()
        for local_path, (name, expires) in expiring.items()
        if local_path in holding
    }


def _names_of(paths: Iterable[str], targets: PathTargets) -> set[str]:
    """The Secret names ``paths`` may be written under: the default rule's and the
    target's."""
    names = {secret_name_for_path(path) for path in paths}
    names.update(targets.names[path] for path in paths if path in targets.names)
    return names


def _within(
    scope: PathScope, local: dict[str, LocalSecret], names: set[str]
) -> dict[str, LocalSecret]:
    """The local Secrets a per-path sync may act on: those holding a path of its scope,
    and those at the names its paths map to."""
    return {
        name: secret
        for name, secret in local.items()
        if name in names or (secret.path is not None and scope.matches(secret.path))
    }


def _synced_outside(scope: PathScope, local: Iterable[LocalSecret]) -> int:
    """This backend's Secrets of paths outside a per-path sync, as the last sync left them
    (nothing outside its paths is looked up), so the synced figure stays the backend's,
    not the sync's."""
    return sum(
        1 for secret in local if holds_a_path(secret) and not scope.matches(secret.path or "")
    )


def conflicts_outside(scope: PathScope, previous: Iterable[Conflict]) -> list[PlannedConflict]:
    """The listed conflicts a per-path sync did not look at, kept as they were."""
    kept: list[PlannedConflict] = []
    reasons = {reason.value: reason for reason in ConflictReason}
    for conflict in previous:
        reason = reasons.get(conflict.reason)
        if reason is not None and not scope.matches(conflict.path):
            kept.append(PlannedConflict(conflict.path, conflict.remote_path, reason))
    return kept


async def _load_local(ctx: SyncContext, names: set[str]) -> tuple[dict[str, LocalSecret], int]:
    """The Secrets of this backend a sync acts on, by name, and for a sync of some paths
    how many of its others hold their path (:func:`_synced_outside`). Other Secrets are
    not read: a write that meets one finds it then (see :mod:`.apply`).

    A full sync takes every Secret of the backend. A sync of concrete paths takes
    those at ``names`` and those holding its paths, and counts the others, from the
    store's index: its work does not grow with the backend. A sync of patterns takes
    every Secret and keeps those its patterns match."""
    scope, store = ctx.paths, ctx.store
    if scope is None:
        return {s.name: s for s in await store.list_managed(ctx.namespace, ctx.name)}, 0
    if scope.concrete:
        found = await store.managed_at(ctx.namespace, ctx.name, names, scope.texts)
        holding = await store.count_holding(ctx.namespace, ctx.name)
        inside = sum(1 for s in found if holds_a_path(s) and scope.matches(s.path or ""))
        return {s.name: s for s in found}, holding - inside
    every = await store.list_managed(ctx.namespace, ctx.name)
    return _within(scope, {s.name: s for s in every}, names), _synced_outside(scope, every)
