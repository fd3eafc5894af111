"""The sync planner: remote state + local Secrets -> writes, conflicts, orphans.

Pure and synchronous, so every sync rule (README, "How syncing behaves") is
unit-tested without I/O.
Planning runs twice per sync: :func:`map_remote` decides which remote paths a
backend's listing maps to (and which are claimed twice), and :func:`plan_sync`
turns the fetched values into actions.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..models.secret import LocalSecret, RemoteItem, SecretShape, declared_keys
from ..models.spec import ConflictPolicy
from ..paths import PathMapping, paths_named, secret_name_for_path
from .mac import compute_mac, mac_matches


class ConflictReason(StrEnum):
    LOCAL_SECRET_DIFFERS = "UnmanagedSecretDiffers"
    LOCAL_EDIT = "ManagedSecretEdited"
    OTHER_BACKEND = "ClaimedByOtherBackend"
    DUPLICATE_MAPPING = "ClaimedByTwoMappings"
    NAME_COLLISION = "SecretNameCollision"
    #: overwrite policy, but the Secret is no backend's and does not opt in (or is of a
    #: built-in credential type, or holds tokens Kubernetes issues)
    NOT_OURS = "UnmanagedSecretNotOptedIn"


@dataclass(frozen=True)
class PlannedConflict:
    path: str
    remote_path: str
    reason: ConflictReason


@dataclass(frozen=True)
class Write:
    """Create (``resource_version`` None) or replace a Secret with remote data."""

    name: str
    item: RemoteItem
    mac: str
    resource_version: str | None = None
    takeover: bool = False  # overwrite policy replacing a Secret someone else wrote
    #: type and declared metadata to write (None: keep the Secret's type, declare nothing)
    shape: SecretShape | None = None
    #: whether the data of an existing Secret changes (not only its metadata)
    changes_data: bool = False


@dataclass(frozen=True)
class Orphan:
    """A managed Secret whose remote secret disappeared."""

    name: str
    path: str
    resource_version: str | None


@dataclass
class SyncPlan:
    writes: list[Write] = field(default_factory=list)
    deletes: list[Orphan] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    conflicts: list[PlannedConflict] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def synced_paths(self) -> int:
        """Paths whose local Secret holds the remote value after the plan is applied."""
        return len(self.writes) + len(self.unchanged)


@dataclass(frozen=True)
class MappedRemote:
    """Remote path -> local path, after resolving mappings that claim one path twice."""

    local_by_remote: dict[str, str]
    conflicts: list[PlannedConflict]
    #: the wildcard captures of each mapped remote path (for templates)
    captures: dict[str, tuple[str, ...]] = field(default_factory=dict)


def map_remote(mappings: Sequence[PathMapping], remote_paths: Iterable[str]) -> MappedRemote:
    """Map every listed remote path through the first mapping that matches it.

    ``mappings`` are in precedence order. A local path produced from two
    different remote paths goes to the one mapped by the mapping of higher
    precedence (between paths of one mapping, the one that sorts first); the
    other is reported. So an explicit mapping of one path overrides a wildcard
    mapping whatever the remote paths are called.
    """
    candidates: list[tuple[int, str, str]] = []  # (mapping index, remote, local)
    for remote in sorted(set(remote_paths)):
        for index, mapping in enumerate(mappings):
            local = mapping.to_local(remote)
            if local is not None:
                candidates.append((index, remote, local))
                break
    local_by_remote: dict[str, str] = {}
    captures: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    conflicts: list[PlannedConflict] = []
    for index, remote, local in sorted(candidates):
        if local in owner:
            conflicts.append(PlannedConflict(local, remote, ConflictReason.DUPLICATE_MAPPING))
        else:
            owner[local] = remote
            local_by_remote[remote] = local
            captures[remote] = mappings[index].remote.match(remote) or ()
    return MappedRemote(local_by_remote, conflicts, captures)


def first_mapping(mappings: Sequence[PathMapping], remote: str) -> tuple[PathMapping, str] | None:
    """The mapping that maps ``remote`` (the first that does) and the local path it
    gives, as :func:`map_remote` decides it."""
    for mapping in mappings:
        local = mapping.to_local(remote)
        if local is not None:
            return mapping, local
    return None


def plans_alone(
    local_path: str, name: str, mapping: PathMapping, mappings: Sequence[PathMapping]
) -> bool:
    """Whether ``local_path``, mapped by ``mapping`` and named ``name`` by the default rule,
    plans the same whatever else the listing holds: no other mapping maps it (so no other
    remote path can claim it) and no other path a mapping maps has its Secret name (so
    no other path can take the name first). Such a path can be planned and written
    before the whole listing is in."""
    if any(other is not mapping and other.to_remote(local_path) is not None for other in mappings):
        return False
    named = paths_named(name)
    if named is None:
        return False
    return all(
        path == local_path or all(m.to_remote(path) is None for m in mappings) for path in named
    )


def needs_fetch(
    ref_version: str | None,
    local: LocalSecret | None,
    key: bytes,
    backend_name: str,
    *,
    path: str,
    remote_path: str,
    targeted: bool = False,
) -> bool:
    """Whether the remote secret at ``remote_path``, mapped to ``path``, must be read:
    unless this backend's Secret already holds that version of that remote path for
    that path, untouched since it was written (its data, and the type and declared
    metadata of a shaped Secret), and shaped as ``targeted`` says it should be.
    (Versions are often small counters, so the Secret of another path with the same
    name, or one written from another remote path before the mapping changed, may
    well carry the same version.)"""
    if ref_version is None or local is None or local.remote_version != ref_version:
        return True
    if local.managed_by != backend_name or local.orphaned:
        return True
    if local.path != path or local.remote_path != remote_path:
        return True
    if not mac_matches(key, path, local.data, local.source_mac):
        return True
    if not _was_shaped(local):
        return False
    if not targeted:
        return True  # shaped by a target that is gone
    labels, annotations = declared_keys(local)
    observed = SecretShape(
        local.type,
        {k: local.labels.get(k, "") for k in labels},
        {k: local.annotations.get(k, "") for k in annotations},
        local.immutable,
    )
    written = compute_mac(key, path, local.data, observed.mac_fields())
    return not hmac.compare_digest(written, local.source_mac or "")


def plan_sync(
    *,
    backend_name: str,
    items: Sequence[RemoteItem],
    unchanged_versions: Mapping[str, str],
    local: Mapping[str, LocalSecret],
    key: bytes,
    policy: ConflictPolicy,
    prune: bool,
    listing_complete: bool,
    failed_paths: Iterable[str] = (),
    names: Mapping[str, str] | None = None,
) -> SyncPlan:
    """Decide what to write.

    ``items`` are fetched remote values; ``unchanged_versions`` maps local paths
    that were not fetched because their version did not change. ``local`` holds
    the Secrets by name: those this backend manages plus any at a name a remote
    path maps to. ``failed_paths`` (local paths whose fetch failed) are neither
    written nor orphaned. ``names`` (local path -> Secret name, from a name template)
    makes a managed Secret of a path under another name an orphan: the name changed.
    """
    planner = Planner(backend_name, local, key, policy)
    planner.plan.unchanged.extend(sorted(unchanged_versions))
    planner.add(items)
    planner.finish(
        unchanged=unchanged_versions,
        failed_paths=failed_paths,
        prune=prune,
        listing_complete=listing_complete,
        names=names,
    )
    return planner.plan


@dataclass
class Planner:
    """:func:`plan_sync` a part at a time: items are added as their values arrive, and
    each :meth:`add` answers the writes they make, so they can start before the
    rest is read. :meth:`finish` plans what the whole listing leaves behind.

    Parts added in order of local path plan exactly as :func:`plan_sync` of all of
    them at once: of two paths whose Secret names collide the first one wins.
    """

    backend_name: str
    local: Mapping[str, LocalSecret]
    key: bytes
    policy: ConflictPolicy
    plan: SyncPlan = field(default_factory=SyncPlan)
    _claimed: dict[str, str] = field(default_factory=dict)  # Secret name -> local path
    _seen: set[str] = field(default_factory=set)

    def add(self, items: Sequence[RemoteItem]) -> list[Write]:
        """Plan ``items``; answers the writes they add to the plan."""
        first = len(self.plan.writes)
        for item in sorted(items, key=lambda i: i.local_path):
            self._seen.add(item.local_path)
            name = item.secret_name or secret_name_for_path(item.local_path)
            if name in self._claimed:
                self.plan.conflicts.append(
                    PlannedConflict(
                        item.local_path, item.remote_path, ConflictReason.NAME_COLLISION
                    )
                )
                continue
            self._claimed[name] = item.local_path
            _plan_item(
                self.plan,
                self.backend_name,
                name,
                item,
                self.local.get(name),
                self.key,
                self.policy,
            )
        return self.plan.writes[first:]

    def finish(
        self,
        *,
        unchanged: Iterable[str],
        failed_paths: Iterable[str],
        prune: bool,
        listing_complete: bool,
        names: Mapping[str, str] | None,
    ) -> SyncPlan:
        """Plan the managed Secrets no listed path holds any more (deletes or orphans);
        ``unchanged`` and ``failed_paths`` are local paths that were listed but not
        added. Answers the whole plan."""
        seen = self._seen | set(unchanged) | set(failed_paths)
        for secret in sorted(self.local.values(), key=lambda s: s.name):
            path = secret.path
            if secret.managed_by != self.backend_name or path is None or secret.issued:
                continue
            renamed = names is not None and names.get(path, secret.name) != secret.name
            if path in seen and not renamed:
                continue
            if not listing_complete:
                self.plan.unchanged.append(path)
                continue
            orphan = Orphan(secret.name, path, secret.resource_version)
            (self.plan.deletes if prune else self.plan.orphans).append(orphan)
        return self.plan


def _was_shaped(secret: LocalSecret) -> bool:
    """Whether a target shaped ``secret`` when it was written (its MAC covers a shape)."""
    return "." in (secret.source_mac or "")


def _plan_item(
    plan: SyncPlan,
    backend_name: str,
    name: str,
    item: RemoteItem,
    existing: LocalSecret | None,
    key: bytes,
    policy: ConflictPolicy,
) -> None:
    shape = item.shape
    if shape is None and existing is not None and _was_shaped(existing):
        shape = SecretShape()  # the target is gone: back to an Opaque Secret
    mac = compute_mac(key, item.local_path, item.data, shape.mac_fields() if shape else None)
    if existing is None:
        plan.writes.append(Write(name, item, mac, shape=shape))
        return
    if existing.path is not None and existing.path != item.local_path:
        plan.conflicts.append(
            PlannedConflict(item.local_path, item.remote_path, ConflictReason.NAME_COLLISION)
        )
        return
    owner = existing.managed_by
    if owner is not None and owner != backend_name:
        plan.conflicts.append(
            PlannedConflict(item.local_path, item.remote_path, ConflictReason.OTHER_BACKEND)
        )
        return
    if existing.issued:  # whatever its labels say: Kubernetes' tokens are never ours
        plan.conflicts.append(
            PlannedConflict(item.local_path, item.remote_path, ConflictReason.NOT_OURS)
        )
        return
    rv = existing.resource_version
    changes = existing.data != item.data or (shape is not None and existing.type != shape.type)
    takeover = Write(name, item, mac, rv, takeover=True, shape=shape, changes_data=changes)
    if owner is None:
        overwrite = policy is ConflictPolicy.OVERWRITE
        if overwrite and existing.overwrite_allowed:
            plan.writes.append(takeover)
        elif existing.data != item.data:
            reason = ConflictReason.NOT_OURS if overwrite else ConflictReason.LOCAL_SECRET_DIFFERS
            plan.conflicts.append(PlannedConflict(item.local_path, item.remote_path, reason))
        return
    edited = not mac_matches(key, item.local_path, existing.data, existing.source_mac)
    if edited and existing.data != item.data:
        if policy is ConflictPolicy.OVERWRITE:
            plan.writes.append(takeover)
        else:
            plan.conflicts.append(
                PlannedConflict(item.local_path, item.remote_path, ConflictReason.LOCAL_EDIT)
            )
        return
    unchanged = (
        existing.source_mac == mac
        and not existing.orphaned
        and existing.remote_path == item.remote_path
        and (item.version is None or existing.remote_version == item.version)
        and (shape is None or shape.observed(existing) == shape)
    )
    if unchanged:
        plan.unchanged.append(item.local_path)
    else:
        plan.writes.append(Write(name, item, mac, rv, shape=shape, changes_data=changes))
