"""Saying what a sync, a probe or a failure did: the CR status and its Events.

The status is computed by the pure functions of :mod:`.status` from the
status the CR had; Events announce what changed (a new conflict, a takeover,
a recovery, a new failure), never the same thing twice in a row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from .. import conditions as c
from ..errors import reason_of
from ..models.resource import FederationBackendResource
from ..models.status import BackendStatus, Conflict, Health
from .metrics import record_status
from .ports import EventSink, StatusWriter
from .service import SyncOutcome
from .status import after_failure, after_idle_probe, after_probe, after_sync, set_condition

log = logging.getLogger(__name__)


class StatusAfterSync(Protocol):
    def __call__(
        self,
        previous: BackendStatus,
        outcome: SyncOutcome,
        *,
        latency_ms: float,
        now: datetime,
        generation: int | None,
        backend_id: str,
    ) -> BackendStatus: ...


SUSPENDED_MESSAGE = "sync suspended"
PROXY_MESSAGE = "proxy mode: reads pass through to the backend"


def _conflict_key(conflict: Conflict) -> tuple[str, str, str]:
    """(namespace, path, reason): a cluster backend's conflicts name their namespace."""
    return (getattr(conflict, "namespace", ""), conflict.path, conflict.reason)


class Reporter:
    def __init__(
        self,
        statuses: StatusWriter,
        events: EventSink,
        status_after_sync: StatusAfterSync = after_sync,
    ) -> None:
        """``status_after_sync`` computes the status a sync leads to (a sync of several
        namespaces adds per-namespace figures)."""
        self.statuses = statuses
        self.events = events
        self.status_after_sync = status_after_sync
        #: whether the last status was written (False: the apiserver failed the write,
        #: and the worker tries again soon rather than at the next interval)
        self.status_written = True

    async def _write(
        self, resource: FederationBackendResource, status: BackendStatus, next_at: datetime
    ) -> None:
        """Patch the status, saying when the next sync or retry is due."""
        status = status.model_copy(update={"next_sync_at": next_at.replace(microsecond=0)})
        record_status(resource.namespace, resource.name, resource.type_name, status.status)
        try:
            await self.statuses.write_status(resource, status)
        except Exception as exc:  # the worker syncs again soon and writes it then
            self.status_written = False
            log.warning("status of %s not written: %s", resource.qualified_name, type(exc).__name__)
        else:
            self.status_written = True

    async def synced(
        self,
        resource: FederationBackendResource,
        outcome: SyncOutcome,
        latency: float,
        now: datetime,
        next_delay: float,
    ) -> None:
        previous = resource.status
        status = self.after_sync(resource, outcome, latency, now)
        await self._write(resource, status, now + timedelta(seconds=round(next_delay)))
        about = resource.metadata
        known = {_conflict_key(x) for x in previous.conflicts}
        for conflict in status.conflicts:
            if _conflict_key(conflict) not in known:
                namespace = _conflict_key(conflict)[0]
                where = f"namespace {namespace}, " if namespace else ""
                await self.events.record(
                    about,
                    reason="ConflictDetected",
                    message=f"{where}path {conflict.path} ({conflict.reason}); local value kept",
                    warning=True,
                )
        for path in outcome.takeovers:
            await self.events.record(
                about,
                reason="SecretOverwritten",
                message=f"path {path}: local value replaced by the remote one (overwrite policy)",
                warning=True,
            )
        if previous.status in (Health.ERROR, Health.DEGRADED) and status.status is Health.HEALTHY:
            await self.events.record(about, reason="Recovered", message=status.message or "")
        if outcome.item_errors and previous.message != status.message:
            await self.events.record(
                about, reason=c.PARTIAL_SYNC, message=status.message or "", warning=True
            )
        log.info(
            "synced %s%s: %d synced, %d written, %d conflicts, %d ms",
            resource.qualified_name,
            "" if outcome.paths is None else f" ({len(outcome.paths.texts)} path(s) only)",
            outcome.secrets_synced,
            outcome.written,
            len(outcome.conflicts),
            outcome.duration_ms,
        )

    def after_sync(
        self,
        resource: FederationBackendResource,
        outcome: SyncOutcome,
        latency: float,
        now: datetime,
    ) -> BackendStatus:
        """The status a sync leads to."""
        return self.status_after_sync(
            resource.status,
            outcome,
            latency_ms=latency,
            now=now,
            generation=resource.generation,
            backend_id=resource.id,
        )

    async def probed(
        self, resource: FederationBackendResource, latency: float, now: datetime, next_delay: float
    ) -> None:
        status = after_probe(
            resource.status,
            latency_ms=latency,
            now=now,
            generation=resource.generation,
            backend_id=resource.id,
            reason=c.PROXY_MODE,
            message=PROXY_MESSAGE,
        )
        await self._write(resource, status, now + timedelta(seconds=round(next_delay)))

    async def idle(
        self, resource: FederationBackendResource, latency: float, now: datetime, next_delay: float
    ) -> None:
        """OnChange with nothing to do: the backend was probed, nothing synced."""
        status = after_idle_probe(
            resource.status, latency_ms=latency, now=now, backend_id=resource.id
        )
        await self._write(resource, status, now + timedelta(seconds=round(next_delay)))

    async def suspended(
        self, resource: FederationBackendResource, now: datetime, next_delay: float
    ) -> None:
        previous = resource.status
        generation = resource.generation
        if previous.message == SUSPENDED_MESSAGE and previous.observed_generation == generation:
            return  # said already, about this generation
        conds = set_condition(
            previous.conditions, c.SYNCED, False, c.SUSPENDED, SUSPENDED_MESSAGE, now, generation
        )
        status = previous.model_copy(
            update={
                "id": resource.id,
                "message": SUSPENDED_MESSAGE,
                "observed_generation": generation,
                "conditions": conds,
            }
        )
        await self._write(resource, status, now + timedelta(seconds=round(next_delay)))

    async def failed(
        self,
        resource: FederationBackendResource,
        error: BaseException,
        message: str,
        now: datetime,
        next_delay: float,
    ) -> None:
        previous = resource.status
        status = after_failure(
            previous,
            error,
            now=now,
            generation=resource.generation,
            backend_id=resource.id,
            message=message,
        )
        await self._write(resource, status, now + timedelta(seconds=round(next_delay)))
        if previous.message != message:
            await self.events.record(
                resource.metadata, reason=reason_of(error), message=message, warning=True
            )
        log.warning("%s: %s", resource.qualified_name, message)
