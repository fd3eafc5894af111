"""The life of one FederationLease or FederationCertificate, whatever it keeps.

A worker runs while its resource exists. It acts only while this process owns the
resource (HA and shards, as for backends); it adds the finalizer, finds the Vault
FederationBackend ``backendRef`` names and logs in with it as a sync would (its
credentials, tenancy checks and keyless identity), then hands each step to its
kind's :meth:`Worker.keep`, which says when to wake next. A failure is recorded
(status, metrics, a Warning event) and tried again with backoff. On deletion
:meth:`Worker.release` revokes or keeps per ``deletionPolicy``, then the finalizer
is removed. The status is the memory across restarts: a worker starts from it.

The ``rolloutRestartTargets`` are restarted (debounced by ``minInterval``) after
new content replaced what the Secret held; ``status.restartedFor`` names the lease
or certificate they were last restarted onto. A Secret holding newer content (a
process stopped after writing it and before the restart, or a restart refused)
owes them one: it is made at the next start or takeover, and a refused one is tried
again every :data:`RESTART_RETRY` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic

from .. import conditions as c
from ..backends.base import SecretBackend
from ..backends.leases import LeaseIssuer, LeasesUnsupportedError, lease_issuer
from ..errors import reason_of, safe_message
from ..k8s.client import NotFoundError
from ..k8s.leased_store import LeasedStore
from ..labels import FINALIZER
from ..models.kind import FEDERATION_BACKEND
from ..models.lease import LeasedSpec
from ..models.lease_status import LeasedStatus
from ..models.leased import LeasedResource, SpecT, StatusT
from ..models.resource import FederationBackendResource
from ..models.secret import LocalSecret
from ..models.spec import BackendSpec
from ..models.status import Condition, ConditionStatus
from ..sync.clock import Clock, SystemClock
from ..sync.metrics import BackendMetrics
from ..sync.ports import EventSink, Workloads
from ..sync.rollout import Rollouts
from .errors import BackendNotUsableError, InvalidSpecError, SecretConflictError
from .metrics import LeasedMetrics

log = logging.getLogger(__name__)

VAULT = "hashicorp-vault"
MIN_BACKOFF = 2.0
MAX_BACKOFF = 60.0
NEVER = float("inf")
#: seconds before a refused rollout restart is tried again
RESTART_RETRY = 30.0


@dataclass
class LeasingDeps:
    store: LeasedStore
    #: reads a FederationBackend; NotFoundError when there is none
    backend: Callable[[str, str], Awaitable[FederationBackendResource]]
    #: a logged-in client of a backend spec, with its namespace's credentials
    connect: Callable[[BackendSpec, str, str], Awaitable[SecretBackend]]
    #: the Events of each kind
    events: Mapping[str, EventSink]
    workloads: Workloads | None = None
    owns: Callable[[str], bool] = field(default=lambda uid: True)
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)


def as_issuer(backend: SecretBackend, ref: str) -> LeaseIssuer:
    """The issuer of a logged-in backend; :class:`BackendNotUsableError` naming ``ref``
    when its type issues no leases."""
    try:
        return lease_issuer(backend)
    except LeasesUnsupportedError:
        raise BackendNotUsableError(
            f"FederationBackend {ref!r}: its client issues no leases"
        ) from None


class Worker(Generic[SpecT, StatusT]):
    def __init__(self, deps: LeasingDeps, resource: LeasedResource[SpecT, StatusT]) -> None:
        self.deps = deps
        self.resource = resource
        self.kind = resource.kind
        self.namespace, self.name = resource.namespace, resource.name
        #: the status as last written: what a restart starts from
        self.status: StatusT = resource.status
        self.metrics = LeasedMetrics(self.namespace, self.kind.kind, self.name)
        self.events = deps.events[self.kind.kind]
        self.rollouts = Rollouts()
        self.wake = asyncio.Event()
        self.failures = 0
        self._client: tuple[tuple[str, int, str], SecretBackend] | None = None
        #: where the client's backend calls are counted (the backend it logged in with)
        self._calls: BackendMetrics | None = None
        self.done = False
        #: whether this process acted on the resource since it last owned it
        self.acting = False
        #: when a refused rollout restart is tried again (monotonic)
        self.restart_retry: float | None = None

    # -- what each kind says -----------------------------------------------------------

    async def keep(self, spec: SpecT, issuer: LeaseIssuer, now: datetime) -> datetime | None:
        """Do what is due; the next time anything is (None: nothing until a change)."""
        raise NotImplementedError

    async def release(self, spec: SpecT | None, issuer: LeaseIssuer | None) -> None:
        """What a deletion does (revoke, delete or keep the Secret)."""
        raise NotImplementedError

    def resume(self) -> None:
        """This process acts on the resource (again): what it knew before may be stale,
        :attr:`status` is as the resource says now."""

    def held_id(self) -> str | None:
        """What the Secret holds, as the status names it (a lease id, a serial)."""
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------

    def observe(self, resource: LeasedResource[SpecT, StatusT]) -> None:
        """The resource as the watch shows it now. A change of its spec, finalizers or
        deletion wakes the worker; a status write alone (its own, after each step and
        each failure) does not, or a failing resource would retry at once, past its
        back-off."""
        before, self.resource = self.resource, resource
        if _what_wakes(before) != _what_wakes(resource):
            self.wake.set()

    async def run(self) -> None:
        try:
            while not self.done:
                self.wake.clear()
                deadline = await self._step_safely()
                if self.done:
                    break
                await self.deps.clock.sleep_until(deadline, self.wake)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._client is not None:
            self._count_calls()
            _, client = self._client
            self._client = None
            await client.close()

    def _count_calls(self) -> None:
        """The client's backend calls so far, into ``scaivault_backend_calls_total``."""
        if self._client is not None and self._calls is not None:
            self._calls.drain_calls(self._client[1].calls)

    async def _step_safely(self) -> float:
        clock = self.deps.clock
        try:
            due = await self.step(self.resource)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._count_calls()
            self.failures += 1
            await self.failed(exc)
            delay = min(MAX_BACKOFF, MIN_BACKOFF * 2.0 ** min(self.failures - 1, 10))
            return clock.monotonic() + delay * self.deps.rng.uniform(0.8, 1.2)
        self._count_calls()
        self.failures = 0
        if due is None:
            return NEVER
        return clock.monotonic() + max(0.0, (due - clock.now()).total_seconds())

    async def step(self, resource: LeasedResource[SpecT, StatusT]) -> datetime | None:
        if not self.deps.owns(resource.uid):
            self.acting = False
            return None  # another process acts on it: woken when that changes
        if not self.acting:
            # another process may have acted meanwhile: its status is where to start
            self.status = resource.status
            self.resume()
            self.acting = True
        if resource.deleting:
            await self._finalize(resource)
            return None
        if FINALIZER not in resource.metadata.finalizers:
            await self.deps.store.set_finalizers(
                resource, [*resource.metadata.finalizers, FINALIZER]
            )
            return None  # the watch brings the object back with it
        spec = resource.spec
        if spec is None:
            raise InvalidSpecError(resource.spec_error or "invalid spec")
        issuer = await self._issuer(spec.backend_ref)
        due = await self.keep(spec, issuer, self.deps.clock.now())
        await self._restart_workloads(spec)
        next_restart = self.rollouts.next_due()
        if next_restart is None and self._owes_restart(spec):
            next_restart = self.restart_retry
        if next_restart is not None:
            at = self.deps.clock.now() + timedelta(
                seconds=max(0.0, next_restart - self.deps.clock.monotonic())
            )
            due = at if due is None else min(due, at)
        return due

    async def _finalize(self, resource: LeasedResource[SpecT, StatusT]) -> None:
        if FINALIZER in resource.metadata.finalizers:
            issuer = None
            if resource.spec is not None:
                try:
                    issuer = await self._issuer(resource.spec.backend_ref)
                except BackendNotUsableError:
                    issuer = None  # nothing can be revoked: keep what there is
            await self.release(resource.spec, issuer)
            rest = [f for f in resource.metadata.finalizers if f != FINALIZER]
            if not await self.deps.store.set_finalizers(resource, rest):
                return  # changed meanwhile: the watch brings it again
        self.metrics.forget()
        self.done = True

    async def reconnect(self, ref: str) -> LeaseIssuer:
        """The issuer of a new client, logged in anew (the old one is closed: its token,
        holding leases, is kept)."""
        await self.close()
        return await self._issuer(ref)

    async def _issuer(self, ref: str) -> LeaseIssuer:
        try:
            backend = await self.deps.backend(self.namespace, ref)
        except NotFoundError:
            raise BackendNotUsableError(
                f"no FederationBackend {ref!r} in namespace {self.namespace!r}"
            ) from None
        if backend.spec is None:
            raise BackendNotUsableError(f"FederationBackend {ref!r} has an invalid spec")
        if backend.spec.type != VAULT:
            raise BackendNotUsableError(
                f"FederationBackend {ref!r} is of type {backend.spec.type}: only "
                f"{VAULT} backends issue leases"
            )
        key = (backend.uid, backend.generation, backend.resource_version)
        if self._client is not None and self._client[0][:2] == key[:2]:
            return as_issuer(self._client[1], ref)
        await self.close()
        client = await self.deps.connect(
            backend.spec, self.namespace, FEDERATION_BACKEND.owner(ref)
        )
        self._client = (key, client)
        self._calls = BackendMetrics(self.namespace, ref, VAULT)
        return as_issuer(client, ref)

    # -- what every kind shares ------------------------------------------------------------

    def secret_labels(self) -> dict[str, str]:
        return self.kind.owner_labels(self.name)

    async def own_secret(self, name: str) -> LocalSecret | None:
        """The Secret ``name`` if it is this resource's, None if there is none;
        :class:`SecretConflictError` if another's."""
        existing = await self.deps.store.get_secret(self.namespace, name)
        if existing is not None and not self.kind.owns(existing.labels, self.name):
            raise SecretConflictError(
                f"Secret {name!r} exists and is not this {self.kind.kind}'s: it is not "
                "overwritten (delete it, or name another in spec.target.name)"
            )
        return existing

    def changed(self, spec: LeasedSpec, secret: str) -> None:
        """The Secret got new content: its workloads are restarted (debounced)."""
        targets = spec.rollout_restart_targets or []
        self.rollouts.note(targets, [secret], self.deps.clock.monotonic())

    def _owes_restart(self, spec: LeasedSpec) -> bool:
        held = self.held_id()
        return bool(spec.rollout_restart_targets) and held != self.status.restarted_for

    async def _restart_workloads(self, spec: LeasedSpec) -> None:
        """Restart the targets due, and those owed a restart no process made."""
        targets = spec.rollout_restart_targets or []
        self.rollouts.forget_others(targets)
        held, monotonic = self.held_id(), self.deps.clock.monotonic()
        if held is None or held == self.status.restarted_for:
            await self._fire_due(spec)
            return
        if not targets:  # nothing to restart: targets named later start from this content
            await self.save(self.status.model_copy(update={"restarted_for": held}))
            return
        retry = self.restart_retry
        if self.rollouts.next_due() is None and (retry is None or retry <= monotonic):
            log.info("%s %s/%s: workloads owed a restart", self.kind.kind, *self._names)
            self.changed(spec, self.status.secret_name or self.name)
        made = await self._fire_due(spec)
        if made and not all(made):
            self.restart_retry = monotonic + RESTART_RETRY
        elif made and self.rollouts.next_due() is None:
            self.restart_retry = None
            await self.save(self.status.model_copy(update={"restarted_for": held}))

    async def _fire_due(self, spec: LeasedSpec) -> list[bool]:
        return await self.rollouts.fire_due(
            self.resource.metadata,
            self.deps.workloads,
            self.events,
            BackendMetrics(self.namespace, spec.backend_ref, VAULT),
            self.deps.clock.monotonic(),
            self.deps.clock.now(),
        )

    @property
    def _names(self) -> tuple[str, str]:
        return self.namespace, self.name

    def ready(self, status: StatusT, reason: str, message: str, now: datetime) -> StatusT:
        ok = reason == c.ISSUED
        condition = Condition(
            type=c.READY,
            status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
            reason=reason,
            message=message,
            last_transition_time=_transition(status, ok, now),
            observed_generation=self.resource.generation,
        )
        others = [x for x in status.conditions if x.type != c.READY]
        return status.model_copy(update={"conditions": [condition, *others]})

    async def save(self, status: StatusT) -> None:
        status = status.model_copy(update={"observed_generation": self.resource.generation})
        if status != self.status:
            await self.deps.store.write_status(self.resource, status)
            self.status = status

    async def record(self, reason: str, message: str, *, warning: bool = False) -> None:
        await self.events.record(
            self.resource.metadata, reason=reason, message=message, warning=warning
        )

    async def failed(self, exc: BaseException) -> None:
        reason, message = reason_of(exc), safe_message(exc)
        now = self.deps.clock.now()
        log.warning("%s %s/%s: %s", self.kind.kind, self.namespace, self.name, message)
        self.metrics.failed(reason)
        status: LeasedStatus = self.ready(self.status, reason, message, now)
        status = status.model_copy(
            update={
                "last_failure_reason": reason,
                "last_failure_message": message,
                "last_failure_at": now,
            }
        )
        await self.record(reason, message, warning=True)
        try:
            await self.save(status)  # type: ignore[arg-type]
        except Exception as write_error:  # the apiserver may be away: the next step says it
            log.warning("status of %s not written (%s)", self.name, type(write_error).__name__)


def _transition(status: LeasedStatus, ok: bool, now: datetime) -> datetime:
    for condition in status.conditions:
        if condition.type == c.READY and (condition.status is ConditionStatus.TRUE) == ok:
            return condition.last_transition_time
    return now


def _what_wakes(resource: LeasedResource[Any, Any]) -> tuple[int, bool, tuple[str, ...]]:
    return resource.generation, resource.deleting, tuple(resource.metadata.finalizers)
