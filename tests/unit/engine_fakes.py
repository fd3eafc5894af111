"""An in-memory world for the sync engine: Secrets, CR status, Events, time, backends,
namespaces; one backend of either kind.

Each fake keeps to the protocol of :mod:`scaivault_federation.sync.ports` and
fails the way the real store does (``KubeApiError`` subclasses). Nothing here
sleeps, starts a process or opens a socket: time is virtual and moves only
when a test moves it.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from scaivault_federation.backends.base import RemoteSecretRef, call_result
from scaivault_federation.backends.errors import BackendError
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.k8s.client import ConflictError, KubeApiError, NotFoundError
from scaivault_federation.labels import (
    ALLOW_OVERWRITE_LABEL,
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
    SYNC_PATHS_ANNOTATION,
    SYNC_REQUESTED_ANNOTATION,
    SYNCED_AT_ANNOTATION,
)
from scaivault_federation.models.kind import FEDERATION_BACKEND, BackendKind
from scaivault_federation.models.resource import (
    FederationBackendResource,
    ObjectMeta,
    sync_paths_value,
)
from scaivault_federation.models.secret import LocalSecret, SecretShape, holds_a_path
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.models.status import BackendStatus
from scaivault_federation.sync.fleet import WORKERS, Fleet
from scaivault_federation.sync.mac import compute_mac
from scaivault_federation.sync.worker import BackendWorker, OperatorDeps
from tests.unit.memory_kube import merge_patch

MAC_KEY = b"k" * 32
NAMESPACE = "team-a"
NAME = "payments"
#: the operator's namespace (where cluster backends' credentials are)
HOME = "scaivault-system"
#: the wall clock when a world starts (monotonic time starts at ``MONOTONIC_START``)
WALL_START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MONOTONIC_START = 1000.0

Op = Literal["list", "get", "write", "delete", "mark_orphaned", "release"]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- time ---------------------------------------------------------------------------------


@dataclass
class _Sleeper:
    deadline: float
    wake: asyncio.Event
    epoch: int


class FakeClock:
    """Virtual monotonic and wall time, linked: ``now()`` moves with ``monotonic()``.

    ``sleep_until`` returns at once when woken or when its deadline is within
    the horizon (advancing virtual time to the deadline); otherwise it parks
    until woken or until :meth:`advance` moves the horizon. A worker's
    ``run()`` therefore runs exactly as far as the test lets time run.
    """

    def __init__(self, wall_start: datetime = WALL_START, start: float = MONOTONIC_START) -> None:
        self._start = start
        self._now = start
        self._wall_start = wall_start
        self.horizon = start
        #: every deadline a sleeper asked for, in order
        self.deadlines: list[float] = []
        self._parked: list[_Sleeper] = []
        self._epoch = 0
        self._moved = asyncio.Event()

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock started."""
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (parked sleepers due by then wake, in order)."""
        assert seconds >= 0
        self.horizon = max(self.horizon, self._now) + seconds
        if not self._parked:
            self._now = self.horizon
        self._epoch += 1
        self._moved.set()
        self._moved = asyncio.Event()

    def advance_to(self, moment: float) -> None:
        self.advance(max(0.0, moment - self._now))

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        self.deadlines.append(deadline)
        # Always yield once, so a worker that never stops waking fails settle() instead
        # of starving the event loop.
        await asyncio.sleep(0)
        while True:
            if wake.is_set():
                return
            if deadline <= self.horizon:
                self._now = max(self._now, deadline)
                return
            sleeper = _Sleeper(deadline, wake, self._epoch)
            self._parked.append(sleeper)
            if len(self._parked) == 1:
                self._now = max(self._now, self.horizon)
            moved = self._moved
            waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(moved.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
                self._parked.remove(sleeper)

    @property
    def idle(self) -> bool:
        """Whether every sleeper is parked on a deadline beyond the horizon, not woken."""
        return bool(self._parked) and all(
            s.epoch == self._epoch and not s.wake.is_set() and s.deadline > self.horizon
            for s in self._parked
        )

    async def settle(self, task: asyncio.Task[Any] | None = None, rounds: int = 500) -> None:
        """Run the event loop (no real time passes) until the sleepers are parked again
        or ``task`` has ended."""
        for _ in range(rounds):
            await asyncio.sleep(0)
            if task is not None and task.done():
                return
            if self.idle:
                return
        raise AssertionError("the worker neither parked nor ended")


# -- Secrets ------------------------------------------------------------------------------


class MemorySecretStorage:
    """The Secrets of every namespace, with resourceVersions and the real store's rules:
    a create of an existing name and a replace or a delete with a stale resourceVersion
    fail with 409, a replace or an orphan mark of a missing Secret with 404, a delete
    of a missing one is fine."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._objects: dict[tuple[str, str], LocalSecret] = {}
        self._versions = itertools.count(1)
        #: calls made, by operation ("create" and "replace" are the two kinds of write)
        self.calls: Counter[str] = Counter()
        #: names written, deleted and marked orphaned, in order
        self.written: list[str] = []
        self.deleted: list[str] = []
        self.marked_orphaned: list[str] = []
        self.failures: dict[tuple[Op, str], KubeApiError] = {}

    # -- test knobs ----------------------------------------------------------------------

    def fail(self, op: Op, name: str, error: KubeApiError) -> None:
        """Make every ``op`` on Secret ``name`` fail with ``error`` (for "list": the
        namespace's listing)."""
        self.failures[(op, name)] = error

    def put(self, namespace: str, secret: LocalSecret) -> LocalSecret:
        """Store ``secret`` as someone else would (not counted); a new resourceVersion."""
        stored = _copy(secret, resource_version=self._next_version())
        self._objects[(namespace, secret.name)] = stored
        return _copy(stored)

    def remove(self, namespace: str, name: str) -> None:
        """Delete a Secret as someone else would (not counted)."""
        self._objects.pop((namespace, name), None)

    def edit(self, namespace: str, name: str, data: Mapping[str, bytes]) -> None:
        """A hand edit of a Secret's data (kubectl edit): labels and annotations stay."""
        secret = self._objects[(namespace, name)]
        self._objects[(namespace, name)] = _copy(
            secret, data=dict(data), resource_version=self._next_version()
        )

    def secret(self, namespace: str, name: str) -> LocalSecret | None:
        found = self._objects.get((namespace, name))
        return _copy(found) if found is not None else None

    def names(self, namespace: str) -> list[str]:
        return sorted(name for ns, name in self._objects if ns == namespace)

    def data(self, namespace: str) -> dict[str, dict[str, bytes]]:
        """Every Secret's data by name."""
        return {
            name: dict(secret.data)
            for (ns, name), secret in sorted(self._objects.items())
            if ns == namespace
        }

    @property
    def writes(self) -> int:
        return self.calls["create"] + self.calls["replace"]

    def reset_counts(self) -> None:
        self.calls.clear()
        self.written.clear()
        self.deleted.clear()
        self.marked_orphaned.clear()

    # -- SecretStorage --------------------------------------------------------------------

    async def list_managed(self, namespace: str, backend_name: str) -> list[LocalSecret]:
        self.calls["list_managed"] += 1
        self._check("list", namespace)
        return self._managed(namespace, backend_name)

    async def managed_at(
        self, namespace: str, backend_name: str, names: Collection[str], paths: Collection[str]
    ) -> list[LocalSecret]:
        self.calls["managed_at"] += 1
        self._check("list", namespace)
        return [
            s for s in self._managed(namespace, backend_name) if s.name in names or s.path in paths
        ]

    async def count_holding(self, namespace: str, backend_name: str) -> int:
        self._check("list", namespace)
        return sum(map(holds_a_path, self._managed(namespace, backend_name)))

    def _managed(self, namespace: str, backend_name: str) -> list[LocalSecret]:
        return [
            _copy(secret)
            for (ns, _), secret in sorted(self._objects.items())
            if ns == namespace
            and secret.labels.get(MANAGED_BY) == MANAGED_BY_VALUE
            and secret.labels.get(BACKEND_LABEL) == backend_name
        ]

    async def get(self, namespace: str, name: str) -> LocalSecret | None:
        self.calls["get"] += 1
        self._check("get", name)
        return self.secret(namespace, name)

    async def write_synced(
        self,
        namespace: str,
        name: str,
        *,
        backend_name: str,
        path: str,
        remote_path: str,
        remote_version: str | None,
        data: Mapping[str, bytes],
        mac: str,
        existing: LocalSecret | None,
        shape: SecretShape | None = None,
    ) -> None:
        self.calls["create" if existing is None else "replace"] += 1
        self._check("write", name)
        key = (namespace, name)
        current = self._objects.get(key)
        if existing is None and current is not None:
            raise ConflictError(409, "AlreadyExists", f'secrets "{name}" already exists')
        if existing is not None:
            if current is None:
                raise NotFoundError(404, "NotFound", f'secrets "{name}" not found')
            if current.resource_version != existing.resource_version:
                raise ConflictError(409, "Conflict", "the object has been modified")
        labels = dict(existing.labels) if existing else {}
        labels.update({MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: backend_name})
        annotations = dict(existing.annotations) if existing else {}
        annotations.pop(ORPHANED_AT_ANNOTATION, None)
        annotations.pop(REMOTE_VERSION_ANNOTATION, None)
        annotations.update(
            {
                PATH_ANNOTATION: path,
                REMOTE_PATH_ANNOTATION: remote_path,
                SOURCE_MAC_ANNOTATION: mac,
                SYNCED_AT_ANNOTATION: rfc3339(self._now()),
            }
        )
        if remote_version is not None:
            annotations[REMOTE_VERSION_ANNOTATION] = remote_version
        if shape is not None:
            labels.update(shape.labels)
            annotations.update(shape.annotations)
        self._objects[key] = LocalSecret(
            name=name,
            data=dict(data),
            labels=labels,
            annotations=annotations,
            resource_version=self._next_version(),
            type=shape.type if shape is not None else (existing.type if existing else "Opaque"),
        )
        self.written.append(name)

    async def mark_orphaned(self, namespace: str, name: str) -> None:
        self.calls["mark_orphaned"] += 1
        self._check("mark_orphaned", name)
        current = self._objects.get((namespace, name))
        if current is None:
            raise NotFoundError(404, "NotFound", f'secrets "{name}" not found')
        annotations = {**current.annotations, ORPHANED_AT_ANNOTATION: rfc3339(self._now())}
        self._objects[(namespace, name)] = _copy(
            current, annotations=annotations, resource_version=self._next_version()
        )
        self.marked_orphaned.append(name)

    async def delete(self, namespace: str, name: str, resource_version: str | None) -> None:
        self.calls["delete"] += 1
        self._check("delete", name)
        current = self._objects.get((namespace, name))
        if current is None:
            return  # the real store ignores 404 on delete
        if resource_version and current.resource_version != resource_version:
            raise ConflictError(409, "Conflict", "Precondition failed: ResourceVersion")
        del self._objects[(namespace, name)]
        self.deleted.append(name)

    async def release(self, namespace: str, names: Iterable[str]) -> None:
        for name in names:
            self.calls["release"] += 1
            self._check("release", name)
            current = self._objects.get((namespace, name))
            if current is None:
                continue
            labels = {
                k: v for k, v in current.labels.items() if k not in (MANAGED_BY, BACKEND_LABEL)
            }
            dropped = (SOURCE_MAC_ANNOTATION, REMOTE_VERSION_ANNOTATION, ORPHANED_AT_ANNOTATION)
            annotations = {k: v for k, v in current.annotations.items() if k not in dropped}
            self._objects[(namespace, name)] = _copy(
                current,
                labels=labels,
                annotations=annotations,
                resource_version=self._next_version(),
            )

    # -- internals ------------------------------------------------------------------------

    def _check(self, op: Op, name: str) -> None:
        error = self.failures.get((op, name))
        if error is not None:
            raise error

    def _next_version(self) -> str:
        return str(next(self._versions))


def _copy(secret: LocalSecret, **changes: Any) -> LocalSecret:
    fields: dict[str, Any] = {
        "name": secret.name,
        "data": dict(secret.data),
        "labels": dict(secret.labels),
        "annotations": dict(secret.annotations),
        "resource_version": secret.resource_version,
        "type": secret.type,
    }
    fields.update(changes)
    return LocalSecret(**fields)


#: the label by which a Secret no backend manages lets overwrite take it over
OPT_IN = {ALLOW_OVERWRITE_LABEL: "true"}


def unmanaged_secret(
    name: str, data: Mapping[str, bytes], labels: Mapping[str, str] | None = None
) -> LocalSecret:
    """A Secret someone made by hand."""
    return LocalSecret(name=name, data=dict(data), labels=dict(labels or {}))


def managed_secret(
    name: str,
    path: str,
    data: Mapping[str, bytes],
    *,
    backend: str = NAME,
    remote_path: str | None = None,
    remote_version: str | None = None,
    key: bytes = MAC_KEY,
) -> LocalSecret:
    """A Secret as ``backend`` writes it, sealed with the MAC of ``data``."""
    annotations = {
        PATH_ANNOTATION: path,
        REMOTE_PATH_ANNOTATION: remote_path or path,
        SOURCE_MAC_ANNOTATION: compute_mac(key, path, dict(data)),
    }
    if remote_version is not None:
        annotations[REMOTE_VERSION_ANNOTATION] = remote_version
    return LocalSecret(
        name=name,
        data=dict(data),
        labels={MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: backend},
        annotations=annotations,
    )


# -- the CR: status and events -------------------------------------------------------------


Watcher = Callable[[dict[str, Any]], None]


class MemoryStatusWriter:
    """Records every status written; for a tracked CR it also merges the status into
    the CR dict and tells the watchers, as the apiserver and a watch would."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, BackendStatus]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.watchers: list[Watcher] = []
        self.fail_with: Exception | None = None
        self.finalizer_writes = 0
        self._versions = itertools.count(100)

    def track(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(meta.get("namespace", ""), meta["name"])] = obj

    @property
    def statuses(self) -> list[BackendStatus]:
        return [status for _, _, status in self.written]

    @property
    def last(self) -> BackendStatus:
        assert self.written, "no status was written"
        return self.written[-1][2]

    def changed(self, obj: dict[str, Any]) -> None:
        """The CR changed (a spec edit, an annotation, a status): bump its resourceVersion
        and tell the watchers."""
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        for watcher in list(self.watchers):
            watcher(obj)

    async def set_finalizers(
        self,
        resource: FederationBackendResource,
        finalizers: Sequence[str],
        drop: Sequence[str] = (),
    ) -> bool:
        """As the apiserver's merge patch guarded by resourceVersion does."""
        obj = self.objects.get((resource.namespace, resource.name))
        if obj is None:
            return True
        if obj["metadata"]["resourceVersion"] != resource.resource_version:
            return False
        obj["metadata"]["finalizers"] = list(finalizers)
        for key in drop:
            obj["metadata"].get("annotations", {}).pop(key, None)
        self.finalizer_writes += 1
        self.changed(obj)
        return True

    async def write_status(
        self, resource: FederationBackendResource, status: BackendStatus
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        namespace, name = resource.namespace, resource.name
        self.written.append((namespace, name, status))
        obj = self.objects.get((namespace, name))
        if obj is not None:
            obj["status"] = merge_patch(obj.get("status") or {}, status.to_cr())
            self.changed(obj)


@dataclass(frozen=True)
class RecordedEvent:
    name: str
    reason: str
    message: str
    warning: bool


class EventLog:
    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    async def record(
        self, about: ObjectMeta, *, reason: str, message: str, warning: bool = False
    ) -> None:
        self.events.append(RecordedEvent(about.name, reason, message, warning))

    @property
    def triples(self) -> list[tuple[str, str, bool]]:
        """``(reason, message, warning)`` of every event, in order."""
        return [(e.reason, e.message, e.warning) for e in self.events]

    @property
    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]


# -- backends -----------------------------------------------------------------------------


class FakeConnection(FakeBackend):
    """One logged-in client of a shared :class:`FakeBackend` "server": every connection
    sees the server's secrets and its ``fail_with`` / ``fail_paths``, and can be made to
    fail on its own (its own ``fail_with``)."""

    def __init__(self, server: FakeBackend, on_list: Callable[[str], None]) -> None:
        super().__init__(batch_size=server.batch_size, latency_ms=server.latency_ms)
        self.server = server
        self._entries = server._entries
        self.fail_paths = server.fail_paths
        self._on_list = on_list

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        self._on_list(prefix)
        return await super().list_secrets(prefix)

    def _check(self, operation: str, path: str | None = None) -> None:
        error = self.fail_with or self.server.fail_with
        if error is not None:
            self.calls.record(operation, call_result(error))
            raise error
        super()._check(operation, path)


class FakeConnector:
    """The ``connect`` of :class:`OperatorDeps`: a new connection to ``server`` per call."""

    def __init__(self, server: FakeBackend, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock
        self.connections: list[FakeConnection] = []
        self.specs: list[BackendSpec] = []
        #: the owner key each connect was for
        self.owners: list[str] = []
        #: makes the next connects fail (a credentials Secret missing, a login refused)
        self.fail_with: BackendError | None = None
        #: monotonic times at which a connection listed the remote store (one per sync
        #: with a single-prefix mapping)
        self.listed_at: list[float] = []

    async def __call__(self, spec: BackendSpec, namespace: str, backend: str) -> FakeConnection:
        self.specs.append(spec)
        self.owners.append(backend)
        if self.fail_with is not None:
            raise self.fail_with
        connection = FakeConnection(self.server, self._listed)
        self.connections.append(connection)
        return connection

    def _listed(self, prefix: str) -> None:
        self.listed_at.append(self.clock.monotonic())

    @property
    def calls(self) -> int:
        """How often a connection was asked for (failed ones included)."""
        return len(self.specs)

    @property
    def current(self) -> FakeConnection:
        assert self.connections, "never connected"
        return self.connections[-1]


# -- the CR --------------------------------------------------------------------------------


#: the labels of the namespaces a cluster backend's default selector selects
SELECTED = {"secrets": "yes"}


def backend_object(
    name: str = NAME,
    namespace: str = NAMESPACE,
    *,
    kind: BackendKind = FEDERATION_BACKEND,
    generation: int = 1,
    uid: str = "0b7c6a52-uid",
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    deleting: bool = False,
    **spec: Any,
) -> dict[str, Any]:
    """A backend of ``kind`` as the apiserver returns it. ``spec`` keys are camelCase and
    override a valid AWS-typed sync spec (the connector decides what backend it gets,
    so the type only has to validate); a cluster backend's selects the namespaces
    labelled :data:`SELECTED`."""
    full_spec: dict[str, Any] = {
        "type": "aws-secrets-manager",
        "config": {"region": "eu-west-1"},
        "pathMapping": {"app/*": "prod/*"},
        "mode": "sync",
        "syncInterval": "10m",
    }
    if not kind.namespaced:
        full_spec["namespaceSelector"] = {"matchLabels": SELECTED}
    full_spec.update(spec)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": kind.object_namespace(namespace),
        "uid": uid,
        "generation": generation,
        "resourceVersion": "1",
        "annotations": dict(annotations or {}),
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-03-01T12:00:00Z"
    obj: dict[str, Any] = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": kind.kind,
        "metadata": metadata,
        "spec": full_spec,
    }
    if status is not None:
        obj["status"] = dict(status)
    return obj


def spec_of(**spec: Any) -> BackendSpec:
    """A parsed spec (the defaults of :func:`backend_object`, with ``spec`` changes)."""
    parsed = FederationBackendResource.from_object(backend_object(**spec)).spec
    assert parsed is not None
    return parsed


# -- the world -----------------------------------------------------------------------------


class MemoryNamespaces:
    """The cluster's namespaces and their labels (listed from the start)."""

    def __init__(self, labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.by_name: dict[str, Mapping[str, str]] = dict(labels or {})

    async def wait_listed(self) -> None:
        return None

    def labels(self) -> Mapping[str, Mapping[str, str]]:
        return self.by_name


class World:
    """One backend (a FederationBackend in :data:`NAMESPACE`, or with ``kind`` a
    ClusterFederationBackend selecting some of ``namespaces``), a remote store, the
    cluster's namespaces and a worker's dependencies."""

    def __init__(
        self,
        *,
        kind: BackendKind = FEDERATION_BACKEND,
        seed: int = 7,
        remote: Mapping[str, Any] | None = None,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
        max_backoff: float | None = None,
        finalizers: bool = False,
        **cr: Any,
    ) -> None:
        self.kind = kind
        self.clock = FakeClock()
        self.store = MemorySecretStorage(now=self.clock.now)
        self.statuses = MemoryStatusWriter()
        self.events = EventLog()
        self.server = FakeBackend(remote if remote is not None else {"prod/db": "pw-1"})
        self.connector = FakeConnector(self.server, self.clock)
        self.namespaces = MemoryNamespaces(namespaces)
        self.seed = seed
        extra: dict[str, Any] = {} if max_backoff is None else {"max_backoff": max_backoff}
        if finalizers:
            extra["finalizers"] = self.statuses
        self.deps = OperatorDeps(
            secrets=self.store,
            statuses=self.statuses,
            events=self.events,
            connect=self.connector,
            mac_key=MAC_KEY,
            sync_slots=asyncio.Semaphore(2),
            rng=random.Random(seed),
            clock=self.clock,
            namespaces=self.namespaces,
            **extra,
        )
        self.cr = backend_object(kind=kind, **cr)
        self.statuses.track(self.cr)

    @property
    def name(self) -> str:
        return str(self.cr["metadata"]["name"])

    @property
    def owner(self) -> str:
        """The owner key the backend's Secrets carry."""
        return self.kind.owner(self.name)

    # -- the CR --------------------------------------------------------------------------

    def resource(self) -> FederationBackendResource:
        """The CR as a watch event would carry it now."""
        return FederationBackendResource.from_object(copy.deepcopy(self.cr), self.kind)

    def edit_spec(self, **changes: Any) -> None:
        """A spec edit: the apiserver bumps the generation."""
        self.cr["spec"].update(changes)
        self.cr["metadata"]["generation"] += 1
        self.statuses.changed(self.cr)

    def request_sync(self, stamp: str, paths: Sequence[str] | None = None) -> None:
        """The manual-sync annotation (of ``paths`` only, when given)."""
        annotations = self.cr["metadata"]["annotations"]
        annotations[SYNC_REQUESTED_ANNOTATION] = stamp
        annotations.pop(SYNC_PATHS_ANNOTATION, None)
        if paths is not None:
            annotations[SYNC_PATHS_ANNOTATION] = sync_paths_value(stamp, paths)
        self.statuses.changed(self.cr)

    def start_deleting(self) -> None:
        self.cr["metadata"]["deletionTimestamp"] = rfc3339(self.clock.now())
        self.statuses.changed(self.cr)

    def select(self, namespace: str, selected: bool) -> None:
        """Label ``namespace`` so the default selector selects it (or not)."""
        self.namespaces.by_name[namespace] = SELECTED if selected else {}

    # -- the worker -----------------------------------------------------------------------

    def worker(self, *, watch: bool = True) -> BackendWorker:
        """A worker for the CR, as the fleet makes it; with ``watch``, every change of the
        CR (its own status writes included) reaches its ``observe``, as the watch does."""
        home = self.kind.home(NAMESPACE, HOME)
        worker = WORKERS[self.kind.placement](self.deps, home, self.owner)
        if watch:

            def observe(obj: dict[str, Any]) -> None:
                worker.observe(FederationBackendResource.from_object(copy.deepcopy(obj), self.kind))

            self.statuses.watchers.append(observe)
        return worker

    def fleet(self, restart_delay: float | None = None) -> Fleet:
        """The fleet the worker would run in (the operator's namespace :data:`HOME`)."""
        if restart_delay is None:
            return Fleet(self.deps, HOME)
        return Fleet(self.deps, HOME, restart_delay)

    def rng(self) -> random.Random:
        """A generator in the state the worker's starts in."""
        return random.Random(self.seed)

    @property
    def syncs(self) -> int:
        return len(self.connector.listed_at)
