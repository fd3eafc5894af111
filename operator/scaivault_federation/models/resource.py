"""A FederationBackend or ClusterFederationBackend as read from the apiserver:
its kind, metadata, spec and status, parsed once where the object enters the
program.

The spec is ``None`` when the models reject it (the CRD's schema is looser
than the models in a few places, and an older object may predate a rule);
``spec_error`` then says why, naming the fields, and ``raw_spec`` keeps what
was there so it can still be shown and patched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..labels import LEFTOVER_ANNOTATIONS, SYNC_PATHS_ANNOTATION, SYNC_REQUESTED_ANNOTATION
from ..paths import InvalidPathError, PathMapping, PathPattern, PathScope
from .base import describe_errors
from .kind import FEDERATION_BACKEND, BackendKind
from .spec import BackendSpec, DeletionPolicy
from .status import BackendStatus, backend_id

M = TypeVar("M", bound=BaseModel)


def parse_spec(model: type[M], raw: Mapping[str, Any]) -> tuple[M | None, str | None]:
    """``raw`` as ``model``, or ``None`` and why not (naming the fields). Whatever a
    validator raises is the spec's problem, never the caller's: one object can never
    stop a watch or a handler."""
    try:
        return model.model_validate(raw), None
    except ValidationError as exc:
        return None, "invalid spec: " + describe_errors(exc, prefix="spec")
    except Exception as exc:  # a validator's own failure (RecursionError, MemoryError, ...)
        return None, f"invalid spec: it could not be checked ({type(exc).__name__})"


def parse_status(model: type[M], raw: Any) -> M:
    """The status as far as it parses; a status that does not starts afresh."""
    try:
        return model.model_validate(raw or {})
    except Exception:  # the operator writes it again on the next report
        return model()


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    creation_timestamp: str = ""
    deleting: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ObjectMeta:
        meta = obj.get("metadata") or {}
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion", "")),
            creation_timestamp=str(meta.get("creationTimestamp", "")),
            deleting=bool(meta.get("deletionTimestamp")),
            annotations=dict(meta.get("annotations") or {}),
            labels=dict(meta.get("labels") or {}),
            finalizers=tuple(str(f) for f in meta.get("finalizers") or ()),
        )

    @property
    def leftover_annotations(self) -> tuple[str, ...]:
        """The annotations an earlier operator left that nothing reads any more."""
        return tuple(key for key in LEFTOVER_ANNOTATIONS if key in self.annotations)


class Named:
    """What every resource answers from its metadata."""

    metadata: ObjectMeta

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def uid(self) -> str:
        return self.metadata.uid

    @property
    def generation(self) -> int:
        return self.metadata.generation

    @property
    def resource_version(self) -> str:
        return self.metadata.resource_version

    @property
    def deleting(self) -> bool:
        return self.metadata.deleting


@dataclass(frozen=True)
class FederationBackendResource(Named):
    """A backend of either kind: ``spec`` and ``status`` are of its kind's models (a
    ClusterFederationBackend's namespace is ``""``)."""

    metadata: ObjectMeta
    spec: BackendSpec | None = field(repr=False)
    status: BackendStatus = field(repr=False)
    raw_spec: Mapping[str, Any] = field(default_factory=dict, repr=False)
    spec_error: str | None = None
    kind: BackendKind = FEDERATION_BACKEND

    @classmethod
    def from_object(
        cls, obj: Mapping[str, Any], kind: BackendKind = FEDERATION_BACKEND
    ) -> FederationBackendResource:
        raw_spec = dict(obj.get("spec") or {})
        spec, error = parse_spec(kind.spec_model, raw_spec)
        status = parse_status(kind.status_model, obj.get("status"))
        return cls(ObjectMeta.from_object(obj), spec, status, raw_spec, error, kind)

    @cached_property
    def mappings(self) -> tuple[PathMapping, ...]:
        """The parsed pathMapping, in precedence order (none for an invalid spec)."""
        return tuple(self.spec.mappings) if self.spec is not None else ()

    @property
    def local_patterns(self) -> tuple[PathPattern, ...]:
        """The ScaiVault side of each mapping, what a per-path sync may name."""
        return self.spec.local_patterns() if self.spec is not None else ()

    @property
    def qualified_name(self) -> str:
        """``namespace/name``, or a cluster-scoped backend's name (for a log line)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def owner(self) -> str:
        """The owner key its Secrets carry (see :meth:`BackendKind.owner`)."""
        return self.kind.owner(self.name)

    @property
    def type_name(self) -> str:
        """The backend type as the spec names it (also when the spec is invalid)."""
        if self.spec is not None:
            return self.spec.type
        return str(self.raw_spec.get("type") or "")

    @property
    def deletion_policy(self) -> DeletionPolicy:
        """What a deletion does to its Secrets; an invalid spec's policy, if it names a
        valid one, else ``Retain``: an invalid spec loses nothing."""
        if self.spec is not None:
            return self.spec.deletion_policy
        raw = self.raw_spec.get("deletionPolicy")
        return next((p for p in DeletionPolicy if p.value == raw), DeletionPolicy.RETAIN)

    @property
    def id(self) -> str:
        """The public id: the status's, else derived from the uid."""
        return self.status.id or backend_id(self.metadata.uid)

    @property
    def sync_requested(self) -> str | None:
        """The manual-sync annotation's value, as set."""
        return self.metadata.annotations.get(SYNC_REQUESTED_ANNOTATION)

    @cached_property
    def _sync_paths_doc(self) -> dict[str, Any] | None:
        """The sync-paths annotation, if it is an object naming the current
        sync-requested-at value."""
        request = self.sync_requested
        raw = self.metadata.annotations.get(SYNC_PATHS_ANNOTATION)
        if request is None or raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("requestedAt") != request:
            return None
        return doc

    @cached_property
    def sync_paths(self) -> PathScope | None:
        """The paths of the pending manual sync when it asks for some only: the
        sync-paths annotation, if it names the current sync-requested-at value and is
        well-formed. ``None`` (a full sync) otherwise: a stale or broken annotation
        never narrows a sync."""
        doc = self._sync_paths_doc
        return None if doc is None else _scope(doc.get("paths"))

    def sync_paths_since(self, seen: str | None) -> PathScope | None:
        """What the manual-sync request asks beyond the request ``seen`` (the one a worker
        saw before this): only its own paths when it was merged into that one (the
        annotation says so), else all of :attr:`sync_paths`."""
        doc = self._sync_paths_doc
        if seen is not None and doc is not None and doc.get("merged") == seen:
            added = _scope(doc.get("added"))
            if added is not None:
                return added
        return self.sync_paths

    def requested_since_last_sync(self) -> bool:
        """Whether the manual-sync annotation asks for a sync the status has not seen."""
        request = self.sync_requested
        if request is None:
            return False
        try:
            asked = datetime.fromisoformat(request.replace("Z", "+00:00"))
        except ValueError:
            return True
        if asked.tzinfo is None:
            asked = asked.replace(tzinfo=UTC)
        last = self.status.last_sync
        return last is None or asked > last


#: a request set this recently is merged with, not replaced, even if a sync has been
#: reported since (the worker may not have picked its paths up yet)
MERGE_GRACE = timedelta(seconds=5)


def sync_paths_value(
    requested_at: str,
    paths: Sequence[str] | None,
    *,
    merged: str | None = None,
    added: Sequence[str] | None = None,
) -> str:
    """The sync-paths annotation for a manual sync requested at ``requested_at`` of
    ``paths`` (``None``: everything); with ``merged``, the request it was merged into
    and its own paths, ``added``."""
    doc: dict[str, Any] = {"requestedAt": requested_at, "paths": _listed(paths)}
    if merged is not None and added is not None:
        doc.update(merged=merged, added=list(added))
    return json.dumps(doc, separators=(",", ":"))


def _listed(paths: Sequence[str] | None) -> list[str] | None:
    return None if paths is None else list(paths)


def _scope(value: object) -> PathScope | None:
    """A list of paths as a scope; None when it is not one (a full sync)."""
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        return None
    try:
        return PathScope(value)
    except InvalidPathError:
        return None


def _parse_stamp(value: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def paths_to_request(
    current: FederationBackendResource, paths: PathScope | None, now: datetime
) -> PathScope | None:
    """What a new manual sync of ``paths`` (``None``: everything) must ask for so that a
    request the worker has not acted on yet is not lost: its paths are added, and a
    pending full sync stays full. ``None`` means a full sync."""
    if paths is None or not _pending(current, now):
        return paths
    return merged_request(current.sync_paths, paths)


def sync_paths_to_set(
    current: FederationBackendResource, paths: PathScope | None, stamp: str, now: datetime
) -> str | None:
    """The sync-paths annotation of a new manual sync of ``paths`` at ``stamp``: what it
    asks for with a request not acted on yet (:func:`paths_to_request`), and when it
    was merged into that one, which request that was and its own paths, so a worker
    that saw that one syncs only these. ``None``: none (a full sync, nothing more)."""
    wanted = paths_to_request(current, paths, now)
    merged = current.sync_requested if paths is not None and _pending(current, now) else None
    if merged is None:
        return None if wanted is None else sync_paths_value(stamp, wanted.texts)
    assert paths is not None
    return sync_paths_value(stamp, _texts(wanted), merged=merged, added=paths.texts)


def _texts(paths: PathScope | None) -> tuple[str, ...] | None:
    return None if paths is None else paths.texts


def _pending(current: FederationBackendResource, now: datetime) -> bool:
    """Whether the backend's manual-sync request may not have been acted on yet."""
    if current.sync_requested is None:
        return False
    asked = _parse_stamp(current.sync_requested)
    return current.requested_since_last_sync() or (asked is not None and now - asked < MERGE_GRACE)


def merged_request(earlier: PathScope | None, later: PathScope | None) -> PathScope | None:
    """Two manual-sync requests as one: their paths together, each once, or a full sync
    (``None``) when either is one or together they name more than
    :data:`~..paths.MAX_SCOPE_PATTERNS` paths (a burst: one full sync reads less than
    that many paths' look-ups)."""
    if earlier is None or later is None:
        return None
    try:
        return earlier.union(later)
    except InvalidPathError:  # too many together: sync everything
        return None
