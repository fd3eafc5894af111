"""The life of one backend: when to sync or probe, and what to record.

A worker runs for as long as its CR exists (:mod:`.fleet` starts it on the CR's
first watch event and only calls :meth:`BackendWorker.run`). This one syncs
into its backend's own namespace; :mod:`.selected_namespaces` holds the one
that syncs into each namespace a selector selects. It sleeps until the
next due time, or until :meth:`BackendWorker.observe` hands it a changed CR
(every watch event does): a spec change reconfigures it and syncs at once, a new
manual-sync annotation syncs at once (only its paths, when the sync-paths annotation
names some: such a sync leaves the next full sync where it was); requests seen while
a sync runs make one next sync together (:mod:`.pending_requests`). The next
due time is the interval with ±10 % jitter after success, exponential
backoff with jitter (at least the server's ``Retry-After``, at most
``max_backoff``) after a failure. Failures never touch Secrets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..backends.base import SecretBackend
from ..backends.errors import InvalidBackendConfigError
from ..errors import FederationError, is_retryable, reason_of, safe_message
from ..k8s.client import KubeApiError
from ..labels import FINALIZER
from ..models.resource import FederationBackendResource
from ..models.secret import LocalSecret
from ..models.spec import BackendSpec, DeletionPolicy, Mode
from ..models.status import Conflict, Health, RecordedName
from ..models.target import RefreshPolicy
from ..models.template_budget import allowance as template_allowance
from ..paths import PathScope, secret_name_for_path
from .clock import Clock, SystemClock
from .metrics import BackendMetrics, forget_backend
from .pending_requests import PendingRequests
from .ports import (
    Connector,
    EventSink,
    Finalizers,
    NamespaceSource,
    NoNamespaces,
    SecretStorage,
    StatusWriter,
    Workloads,
)
from .report import Reporter
from .rollout import Rollouts
from .service import SyncContext, SyncOutcome, run_sync
from .status import recorded_names
from .teardown import teardown
from .triggers import TriggerRouter

log = logging.getLogger(__name__)

MIN_BACKOFF = 5.0
MAX_BACKOFF = 300.0
#: how long a worker with an invalid spec waits before looking again (a spec change wakes it)
INVALID_SPEC_WAIT = 3600.0
_UNSEEN = object()


@dataclass
class OperatorDeps:
    """What every worker shares: set up once at operator start."""

    secrets: SecretStorage
    statuses: StatusWriter
    events: EventSink
    connect: Connector
    mac_key: bytes
    sync_slots: asyncio.Semaphore
    rng: random.Random = field(default_factory=random.Random)
    clock: Clock = field(default_factory=SystemClock)
    max_backoff: float = MAX_BACKOFF
    workloads: Workloads | None = None
    #: wakes workers when Secrets they depend on change (None: only their schedule)
    router: TriggerRouter | None = None
    #: whether this process acts on the backend with this uid (HA and shards)
    owns: Callable[[str], bool] = field(default=lambda uid: True)
    #: keeps a deleted CR until its Secrets are torn down (None: no finalizer is
    #: added, and a deletion tears nothing down)
    finalizers: Finalizers | None = None
    #: the cluster's namespaces, for backends that sync into those a selector selects
    namespaces: NamespaceSource = field(default_factory=NoNamespaces)


#: a due time that never comes: the worker waits for a change
NEVER = float("inf")
#: a worker going to sleep for longer than this releases its backend's connections
RELEASE_AFTER = 30.0
#: a teardown that failed (or waits for the owner) is tried again after this long
TEARDOWN_RETRY = 3.0


def _same_spec_kept(
    previous: FederationBackendResource | None, current: FederationBackendResource
) -> FederationBackendResource:
    """``current``, holding ``previous``'s parsed spec when the spec did not change (most
    events are status writes): a sleeping backend keeps one spec, not one per event."""
    if (
        previous is None
        or previous.generation != current.generation
        or previous.raw_spec != current.raw_spec
    ):
        return current
    return dataclasses.replace(current, spec=previous.spec, raw_spec=previous.raw_spec)


def jittered(seconds: float, rng: random.Random, spread: float = 0.1) -> float:
    return seconds * rng.uniform(1 - spread, 1 + spread)


def backoff_delay(
    failures: int,
    interval: float,
    rng: random.Random,
    retry_after: float | None,
    cap: float = MAX_BACKOFF,
) -> float:
    """Exponential from 5s, capped at the interval and at ``cap``, ±20 % jitter, never
    under Retry-After."""
    base = min(interval, cap, MIN_BACKOFF * 2 ** max(0, failures - 1))
    delay = jittered(base, rng, spread=0.2)
    return max(delay, retry_after or 0.0)


class BackendWorker:
    """The worker of a backend writing into its own namespace.

    ``namespace`` is where its credentials are read and ``name`` the owner key its
    Secrets carry (for a FederationBackend, its namespace and name)."""

    def __init__(self, deps: OperatorDeps, namespace: str, name: str) -> None:
        self.deps = deps
        self.namespace = namespace
        self.name = name
        self.report = Reporter(deps.statuses, deps.events)
        self.backend: SecretBackend | None = None
        #: the backend's last probe's latency (ms), while its client lives
        self.latency: float | None = None
        self.generation: int | None = None
        self.spec: BackendSpec | None = None
        self.last_request: str | None = None
        #: manual-sync requests seen and not acted on yet, together
        self.requests = PendingRequests()
        self.due = 0.0
        self.next_delay = 0.0
        self.failures = 0
        #: syncs in a row whose status the apiserver failed to take
        self.unwritten = 0
        self.resource: FederationBackendResource | None = None
        #: spec.target of the last sync (_UNSEEN before the first): a change re-reads all
        self.synced_target: object = _UNSEEN
        #: whether a sync is owed under refreshPolicy OnChange (a spec change or a trigger)
        self.sync_owed = True
        self.rollouts = Rollouts()
        self._wake = asyncio.Event()
        self._triggered = False
        self._reconnect = False

    def observe(self, resource: FederationBackendResource) -> None:
        """The CR as it is now; wakes the worker. A manual-sync request it carries joins
        those not acted on yet, so none is lost to a newer one while a sync runs."""
        self.resource = _same_spec_kept(self.resource, resource)
        self._note(resource)
        self._wake.set()

    def _note(self, resource: FederationBackendResource) -> None:
        """Hold the manual-sync request ``resource`` carries, once per request: what it
        asks beyond the request seen before it (a request merged into that one adds
        only its own paths)."""
        request = resource.sync_requested
        if request is not None and request != self.last_request:
            seen, self.last_request = self.last_request, request
            self.requests.add(resource.sync_paths_since(seen), self.deps.clock.monotonic())

    def trigger(self) -> None:
        """Sync at once (a Secret it manages was deleted or edited by hand)."""
        self._triggered = True
        self._wake.set()

    def credentials_changed(self) -> None:
        """Log in afresh and sync at once (a credentials Secret it reads changed)."""
        self._reconnect = True
        self.trigger()

    def ownership_changed(self) -> None:
        """This process may have gained or lost the backend: look again."""
        self._wake.set()

    def namespaces_changed(self) -> None:
        """A namespace came, went or changed labels (nothing to this worker)."""

    def resumed(self, resource: FederationBackendResource) -> None:
        """This process (re)starts acting on the backend (its spec is read)."""

    def attach(self) -> None:
        """Be woken by changes of the Secrets it reads and writes."""
        if self.deps.router is not None:
            self.deps.router.attach((self.namespace, self.name), self)

    def detach(self) -> None:
        if self.deps.router is not None:
            self.deps.router.detach((self.namespace, self.name), self)

    async def run(self, resource: FederationBackendResource | None = None) -> None:
        """Act on the CR (``resource``, or the one observed last) until it is being
        deleted (or the task is cancelled)."""
        if resource is not None:
            self.observe(resource)
        del resource  # only the newest CR is kept (self.resource), never the first
        assert self.resource is not None, "run() before any CR was observed"
        try:
            while True:
                current = self.resource
                assert current is not None
                self._wake.clear()
                if current.metadata.deleting:
                    if await self._tear_down(current):
                        return
                    retry = self.deps.clock.monotonic() + TEARDOWN_RETRY
                    await self.deps.clock.sleep_until(retry, self._wake)
                    continue
                await self.step(current)
                wake = self._next_wake()
                if self.backend is not None and wake - self.deps.clock.monotonic() > RELEASE_AFTER:
                    await self.backend.release()  # asleep a while: hold no connection
                await self.deps.clock.sleep_until(wake, self._wake)
        finally:
            # shielded: a cancelled worker still revokes its login and closes its client
            await asyncio.shield(self.close())

    async def step(self, resource: FederationBackendResource) -> None:
        """React to ``resource`` (a changed spec or trigger) and sync if due."""
        clock = self.deps.clock
        if not self.deps.owns(resource.uid):
            if self.generation is not None:  # lost it: another process acts now
                await self.close()
                self.generation = None
            self.due = NEVER
            return
        await self._keep(resource)
        request = resource.sync_requested
        if resource.generation != self.generation:
            resumed = self.generation is None
            await self._reconfigure(resource)
            if resumed:
                self.resumed(resource)
            self.due = clock.monotonic() + (self._resume_delay(resource) if resumed else 0.0)
            self.sync_owed = not (resumed and self._synced_this_generation(resource))
            if resumed and not resource.requested_since_last_sync():
                self.last_request = request
                self.requests.clear()  # handled before this process acted on the backend
        self._note(resource)
        paths: PathScope | None = None
        now = clock.monotonic()
        if self.requests.pending and (self.requests.ready_at() <= now or now >= self.due):
            self.sync_owed = True
            paths = self.requests.take()
            if paths is None:
                self.due = 0.0
        if self._reconnect:
            self._reconnect = False
            await self.close()
        if self._triggered:
            self._triggered = False
            self.due = 0.0
            self.sync_owed = True
        if clock.monotonic() >= self.due:
            self.requests.clear()  # a full sync covers every request seen before it
            await self.tick(resource)
        elif paths is not None:
            await self.tick(resource, paths)
        await self._restart_workloads(resource)

    async def _keep(self, resource: FederationBackendResource) -> None:
        """Add the operator's finalizer, so that from now on a deletion waits for the
        teardown, and remove annotations an earlier operator left (stale: the next
        event retries)."""
        keeper, meta = self.deps.finalizers, resource.metadata
        if keeper is None or (FINALIZER in meta.finalizers and not meta.leftover_annotations):
            return
        finalizers = (
            meta.finalizers if FINALIZER in meta.finalizers else (*meta.finalizers, FINALIZER)
        )
        await keeper.set_finalizers(resource, finalizers, meta.leftover_annotations)

    async def _tear_down(self, resource: FederationBackendResource) -> bool:
        """The CR is being deleted: apply its deletionPolicy to the managed Secrets (in
        every namespace it wrote into) and let the deletion go on. False to try again
        later (another process acts on it now, or a Kubernetes call failed)."""
        await self.close()  # a login obtained for it is revoked now
        finalizers = self.deps.finalizers
        if finalizers is None or FINALIZER not in resource.metadata.finalizers:
            return True  # nothing waits for us
        if not self.deps.owns(resource.uid):
            return False  # its owner tears it down; woken when ownership changes
        policy = resource.deletion_policy
        namespaces = await self.written_namespaces(resource)
        count = 0
        try:
            for namespace in namespaces:
                count += await teardown(self.deps.secrets, namespace, self.name, policy)
        except KubeApiError as exc:
            log.warning(
                "%s: deleting, %s the Secrets failed (%s); retrying",
                resource.qualified_name,
                "deleting" if policy is DeletionPolicy.DELETE else "releasing",
                exc.status_reason,
            )
            return False
        forget_backend(self.namespace, self.name)
        log.info(
            "%s deleted: %s %d Secret(s) in %d namespace(s)",
            resource.qualified_name,
            policy.value,
            count,
            len(namespaces),
        )
        kept = [f for f in resource.metadata.finalizers if f != FINALIZER]
        return await finalizers.set_finalizers(resource, kept)  # stale: again, on the newest

    async def written_namespaces(self, resource: FederationBackendResource) -> list[str]:
        """The namespaces its Secrets may be in, for a teardown."""
        return [self.namespace]

    async def close(self) -> None:
        if self.backend is not None:
            if self.spec is not None:
                self._metrics(self.spec).drain_calls(self.backend.calls)
            await self.backend.close()
            self.backend = None
            self.latency = None

    def _resume_delay(self, resource: FederationBackendResource) -> float:
        """After an operator restart, keep a healthy backend's schedule instead of
        syncing every backend at once; anything else syncs now."""
        status = resource.status
        if (
            status.status is not Health.HEALTHY
            or status.next_sync_at is None
            or status.observed_generation != resource.generation
        ):
            return 0.0
        return max(0.0, (status.next_sync_at - self.deps.clock.now()).total_seconds())

    async def _reconfigure(self, resource: FederationBackendResource) -> None:
        await self.close()
        self.generation = resource.generation
        self.failures = 0
        self.spec = resource.spec
        if self.deps.router is not None:
            self.deps.router.depend((self.namespace, self.name), self._credential_names())
        if resource.spec is None:
            message = resource.spec_error or "invalid spec"
            self.next_delay = INVALID_SPEC_WAIT
            await self.report.failed(
                resource,
                InvalidBackendConfigError(message),
                message,
                self.deps.clock.now(),
                self.next_delay,
            )

    async def tick(
        self, resource: FederationBackendResource, paths: PathScope | None = None
    ) -> None:
        """Sync (only ``paths``, when given) or probe, and say when to next."""
        clock = self.deps.clock
        spec = self.spec
        if spec is None:
            self.due = clock.monotonic() + INVALID_SPEC_WAIT  # until the spec changes
            return
        interval = spec.interval.total_seconds()
        if paths is None:
            self.next_delay = jittered(interval, self.deps.rng)
        else:  # the full sync stays due when it was
            self.next_delay = max(0.0, self.due - clock.monotonic())
        try:
            if spec.suspend:
                self.next_delay = interval
                await self.report.suspended(resource, clock.now(), self.next_delay)
                self.due = clock.monotonic() + interval
                return
            backend = await self._backend(spec)
            if spec.mode is Mode.PROXY:
                latency = await backend.probe()
                await self.report.probed(resource, latency, clock.now(), self.next_delay)
            elif self._on_change(spec) and not self.sync_owed:
                latency = await backend.probe()
                await self.report.idle(resource, latency, clock.now(), self.next_delay)
            else:
                async with self.deps.sync_slots:
                    latency = await self._latency(backend, paths)
                    # the status says "as of when the sync began": a change made
                    # while it ran is not in it, so a later sync is still due
                    started = clock.now()
                    with template_allowance():  # its templates, together, are bounded too
                        outcome = await self.sync(resource, spec, backend, paths)
                    self.synced_target = spec.target
                outcome.secret_names = await self._recorded_names(spec)
                self.sync_owed = bool(outcome.item_errors)
                targets = spec.rollout_restart_targets or []
                self.rollouts.note(targets, outcome.changed, clock.monotonic())
                await self.report.synced(resource, outcome, latency, started, self.next_delay)
                self._metrics(spec).record_sync(outcome)
                self._metrics(spec).record_expiries(str(resource.kind), resource.name, outcome)
            self._metrics(spec).record_success(latency)
            self.failures = 0
            self.due = clock.monotonic() + self.next_delay
            if self.report.status_written:
                self.unwritten = 0
            else:  # its status says nothing of this sync: sync again soon, backing off
                self.unwritten += 1
                self.sync_owed = True
                retry = backoff_delay(
                    self.unwritten, interval, self.deps.rng, None, self.deps.max_backoff
                )
                self.due = clock.monotonic() + min(self.next_delay, retry)
        except Exception as exc:  # any failure: keep every Secret, report, back off
            self.failures += 1
            self.next_delay = backoff_delay(
                self.failures,
                interval,
                self.deps.rng,
                exc.retry_after if isinstance(exc, FederationError) else None,
                self.deps.max_backoff,
            )
            if not is_retryable(exc):
                await self.close()  # credentials may have been rotated: log in afresh
            message = safe_message(exc)
            self._metrics(spec).record_error(reason_of(exc))
            await self.report.failed(resource, exc, message, clock.now(), self.next_delay)
            self.due = clock.monotonic() + self.next_delay
        finally:
            if self.backend is not None:
                self._metrics(spec).drain_calls(self.backend.calls)

    async def _latency(self, backend: SecretBackend, paths: PathScope | None) -> float:
        """A full sync starts with a probe; a sync of some paths takes the last probe's
        latency (its own lookups prove the credentials), so it costs its paths' calls
        alone."""
        if paths is None or self.latency is None:
            self.latency = await backend.probe()
        return self.latency

    def record_namespaces(self) -> list[tuple[str | None, str]]:
        """Where this backend's Secrets are: (the namespace the status names, the namespace)."""
        return [(None, self.namespace)]

    async def _recorded_names(self, spec: BackendSpec) -> list[RecordedName]:
        """The Secrets a name template named, for the status (the API reads them there)."""
        target = spec.target
        if target is None or (target.name is None and not any(r.name for r in target.rules or [])):
            return []
        found: list[tuple[str | None, LocalSecret]] = []
        for named, namespace in self.record_namespaces():
            managed = await self.deps.secrets.list_managed(namespace, self.name)
            found.extend((named, secret) for secret in managed)
        return recorded_names(found)

    async def sync(
        self,
        resource: FederationBackendResource,
        spec: BackendSpec,
        backend: SecretBackend,
        paths: PathScope | None = None,
    ) -> SyncOutcome:
        """One sync of the backend's Secrets; only ``paths`` when given."""
        return await self.sync_into(self.namespace, spec, backend, paths, resource.status.conflicts)

    async def sync_into(
        self,
        namespace: str,
        spec: BackendSpec,
        backend: SecretBackend,
        paths: PathScope | None,
        previous_conflicts: Sequence[Conflict],
    ) -> SyncOutcome:
        """One :func:`run_sync` of ``spec`` into ``namespace`` (whose conflicts the status
        lists as ``previous_conflicts``)."""
        ctx = SyncContext(
            namespace,
            self.name,
            spec.in_namespace(namespace),
            backend,
            self.deps.secrets,
            self.deps.mac_key,
            paths=paths,
            previous_conflicts=previous_conflicts,
            refetch=self._target_changed(spec),
        )
        return await run_sync(ctx)

    def _credential_names(self) -> list[str]:
        """The Secrets the config's credentials fields name."""
        if self.spec is None:
            return []
        paths = self.spec.config.credentials_paths().values()
        return [secret_name_for_path(path) for path in paths]

    def _next_wake(self) -> float:
        wake = self.due
        restart = self.rollouts.next_due()
        if restart is not None:
            wake = min(wake, restart)
        if self.requests.pending:  # a burst waiting to quiet
            wake = min(wake, self.requests.ready_at())
        return wake

    async def _restart_workloads(self, resource: FederationBackendResource) -> None:
        """Restart the rollout targets whose debounce has passed."""
        spec = self.spec
        if spec is None:
            return
        self.rollouts.forget_others(spec.rollout_restart_targets or [])
        clock = self.deps.clock
        await self.rollouts.fire_due(
            resource.metadata,
            self.deps.workloads,
            self.deps.events,
            self._metrics(spec),
            clock.monotonic(),
            clock.now(),
        )

    @staticmethod
    def _on_change(spec: BackendSpec) -> bool:
        return spec.target is not None and spec.target.policy is RefreshPolicy.ON_CHANGE

    @staticmethod
    def _synced_this_generation(resource: FederationBackendResource) -> bool:
        """After an operator restart: whether the status shows a clean sync of this spec."""
        status = resource.status
        return (
            status.status is Health.HEALTHY
            and status.last_sync is not None
            and status.observed_generation == resource.generation
        )

    def _target_changed(self, spec: BackendSpec) -> bool:
        """Whether Secrets may need rebuilding although no remote version changed: the
        target differs from the last sync's (or, after a start, there is one)."""
        if self.synced_target is _UNSEEN:
            return spec.target is not None
        return spec.target != self.synced_target

    def _metrics(self, spec: BackendSpec) -> BackendMetrics:
        return BackendMetrics(self.namespace, self.name, spec.type)

    async def _backend(self, spec: BackendSpec) -> SecretBackend:
        if self.backend is None:
            self.backend = await self.deps.connect(spec, self.namespace, self.name)
        return self.backend
