"""The life of one FederationBackend: when to sync or probe, and what to record.

A worker runs for as long as its CR exists (the kopf daemon only calls
:meth:`BackendWorker.run`). It re-reads the live CR body every second, so a
spec change or the manual-sync annotation acts within a second, and otherwise
sleeps until the next due time: the interval with ±10 % jitter after success,
exponential backoff with jitter (at least the server's ``Retry-After``) after
a failure. Failures never touch Secrets.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from .. import conditions as c
from ..backends.base import Credentials, SecretBackend
from ..backends.errors import BackendError, InvalidBackendConfigError, ThrottledError
from ..backends.registry import create_backend
from ..k8s.client import KubeApiError, KubeClient
from ..k8s.resources import (
    emit_event,
    patch_status,
    read_credentials,
    request_service_account_token,
)
from ..k8s.secrets import SecretStore
from ..labels import SYNC_REQUESTED_ANNOTATION
from ..metrics import BackendMetrics
from ..models.base import describe_errors
from ..models.config import VaultAuthMethod, VaultConfig
from ..models.spec import BackendSpec, Mode
from ..models.status import BackendStatus, Health, backend_id
from .service import SyncContext, SyncOutcome, run_sync
from .status import after_failure, after_probe, after_sync, error_reason, set_condition

log = logging.getLogger(__name__)

MIN_BACKOFF = 5.0
TICK = 1.0


@dataclass
class OperatorDeps:
    """What every worker shares: set up once at operator start."""

    client: KubeClient
    store: SecretStore
    mac_key: bytes
    sync_slots: asyncio.Semaphore
    rng: random.Random = field(default_factory=random.Random)


def jittered(seconds: float, rng: random.Random, spread: float = 0.1) -> float:
    return seconds * rng.uniform(1 - spread, 1 + spread)


def backoff_delay(
    failures: int, interval: float, rng: random.Random, retry_after: float | None
) -> float:
    """Exponential from 5s, capped at the interval, ±20 % jitter, never under Retry-After."""
    base = min(interval, MIN_BACKOFF * 2 ** max(0, failures - 1))
    delay = jittered(base, rng, spread=0.2)
    return max(delay, retry_after or 0.0)


# Vault auth methods that may log in with a ServiceAccount token of the CR's namespace
_SERVICE_ACCOUNT_AUTH = (VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT)


async def load_credentials(client: KubeClient, namespace: str, spec: BackendSpec) -> Credentials:
    """Merge the Secrets the config's ``*Path`` fields name (same namespace only)."""
    values: dict[str, bytes] = {}
    for attr in ("auth_config_path", "credentials_path", "ca_cert_path"):
        path = getattr(spec.config, attr, None)
        if path is not None:
            values.update((await read_credentials(client, namespace, path)).values)
    config = spec.config
    if isinstance(config, VaultConfig) and config.auth_method in _SERVICE_ACCOUNT_AUTH:
        account, audience = config.service_account or "default", config.audience

        async def token() -> str:
            return await request_service_account_token(
                client, namespace, account, audience=audience
            )

        return Credentials(values, service_account_token=token)
    return Credentials(values)


def failure_message(exc: Exception) -> str:
    """What status and events say about a failure: typed errors carry safe messages;
    anything else is named by its type only, since its text may quote data."""
    if isinstance(exc, BackendError):
        return exc.message
    if isinstance(exc, KubeApiError):
        return f"Kubernetes API: {exc.status} {exc.reason}"
    return f"internal error ({type(exc).__name__})"


class BackendWorker:
    def __init__(self, deps: OperatorDeps, namespace: str, name: str) -> None:
        self.deps = deps
        self.namespace = namespace
        self.name = name
        self.backend: SecretBackend | None = None
        self.generation: int | None = None
        self.spec: BackendSpec | None = None
        self.last_request: str | None = None
        self.due = 0.0
        self.next_delay = 0.0
        self.failures = 0

    async def run(self, live_body: Callable[[], Mapping[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                body = live_body()
                meta = body.get("metadata", {})
                if meta.get("deletionTimestamp"):
                    return
                generation = meta.get("generation")
                request = (meta.get("annotations") or {}).get(SYNC_REQUESTED_ANNOTATION)
                if generation != self.generation:
                    resumed = self.generation is None
                    await self._reconfigure(body, generation)
                    self.due = loop.time() + (self._resume_delay(body) if resumed else 0.0)
                    if resumed and not self._requested_since_last_sync(body, request):
                        self.last_request = request
                if request != self.last_request:
                    self.last_request = request
                    self.due = 0.0
                if loop.time() >= self.due:
                    await self.tick(body)
                await asyncio.sleep(min(TICK, max(0.05, self.due - loop.time())))
        finally:
            await self.close()

    async def close(self) -> None:
        if self.backend is not None:
            if self.spec is not None:
                self._metrics(self.spec).drain_calls(self.backend.calls)
            await self.backend.close()
            self.backend = None

    def _resume_delay(self, body: Mapping[str, Any]) -> float:
        """After an operator restart, keep a healthy backend's schedule instead of
        syncing every backend at once; anything else syncs now."""
        status = self._previous(body)
        meta = body.get("metadata", {})
        if (
            status.status is not Health.HEALTHY
            or status.next_sync_at is None
            or status.observed_generation != meta.get("generation")
        ):
            return 0.0
        return max(0.0, (status.next_sync_at - datetime.now(UTC)).total_seconds())

    def _requested_since_last_sync(self, body: Mapping[str, Any], request: str | None) -> bool:
        """Whether the manual-sync annotation asks for a sync the status has not seen."""
        if request is None:
            return False
        last = self._previous(body).last_sync
        try:
            asked = datetime.fromisoformat(request.replace("Z", "+00:00"))
        except ValueError:
            return True
        if asked.tzinfo is None:
            asked = asked.replace(tzinfo=UTC)
        return last is None or asked > last

    async def _reconfigure(self, body: Mapping[str, Any], generation: int | None) -> None:
        await self.close()
        self.generation = generation
        self.failures = 0
        try:
            self.spec = BackendSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            self.spec = None
            message = "invalid spec: " + describe_errors(exc, prefix="spec")
            await self._record_failure(body, InvalidBackendConfigError(message), message)

    async def tick(self, body: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        spec = self.spec
        if spec is None:
            self.due = loop.time() + 3600  # until the spec changes
            return
        interval = spec.interval.total_seconds()
        self.next_delay = jittered(interval, self.deps.rng)
        try:
            if spec.suspend:
                self.next_delay = interval
                await self._record_suspended(body)
                self.due = loop.time() + interval
                return
            backend = await self._backend(spec)
            if spec.mode is Mode.PROXY:
                latency = await backend.probe()
                await self._record_probe(body, latency)
            else:
                async with self.deps.sync_slots:
                    latency = await backend.probe()
                    ctx = SyncContext(
                        self.namespace, self.name, spec, backend, self.deps.store, self.deps.mac_key
                    )
                    outcome = await run_sync(ctx)
                await self._record_sync(body, outcome, latency)
                self._metrics(spec).record_sync(outcome)
            self._metrics(spec).record_success(latency)
            self.failures = 0
            self.due = loop.time() + self.next_delay
        except Exception as exc:  # any failure: keep every Secret, report, back off
            self.failures += 1
            retry_after = exc.retry_after if isinstance(exc, ThrottledError) else None
            self.next_delay = backoff_delay(self.failures, interval, self.deps.rng, retry_after)
            if not (isinstance(exc, BackendError) and exc.retryable):
                await self.close()  # credentials may have been rotated: log in afresh
            message = failure_message(exc)
            self._metrics(spec).record_error(error_reason(exc))
            await self._record_failure(body, exc, message)
            self.due = loop.time() + self.next_delay
        finally:
            if self.backend is not None:
                self._metrics(spec).drain_calls(self.backend.calls)

    def _metrics(self, spec: BackendSpec) -> BackendMetrics:
        return BackendMetrics(self.namespace, self.name, spec.type.value)

    async def _backend(self, spec: BackendSpec) -> SecretBackend:
        if self.backend is None:
            credentials = await load_credentials(self.deps.client, self.namespace, spec)
            self.backend = await create_backend(spec.type, spec.config, credentials)
        return self.backend

    # --- status -------------------------------------------------------------

    def _previous(self, body: Mapping[str, Any]) -> BackendStatus:
        try:
            return BackendStatus.model_validate(body.get("status") or {})
        except ValidationError:
            return BackendStatus()

    def _ids(self, body: Mapping[str, Any]) -> tuple[str, int | None, datetime]:
        meta = body.get("metadata", {})
        return backend_id(meta.get("uid", "")), meta.get("generation"), datetime.now(UTC)

    async def _write(self, status: BackendStatus) -> None:
        """Patch the status, saying when the next sync or retry is due."""
        next_at = datetime.now(UTC) + timedelta(seconds=round(self.next_delay))
        status = status.model_copy(update={"next_sync_at": next_at.replace(microsecond=0)})
        try:
            await patch_status(self.deps.client, self.namespace, self.name, status)
        except KubeApiError as exc:
            log.warning("status of %s/%s not written: %s", self.namespace, self.name, exc.reason)

    async def _record_sync(
        self, body: Mapping[str, Any], outcome: SyncOutcome, latency: float
    ) -> None:
        previous = self._previous(body)
        ident, generation, now = self._ids(body)
        status = after_sync(
            previous, outcome, latency_ms=latency, now=now, generation=generation, backend_id=ident
        )
        await self._write(status)
        known = {(x.path, x.reason) for x in previous.conflicts}
        for conflict in status.conflicts:
            if (conflict.path, conflict.reason) not in known:
                await emit_event(
                    self.deps.client,
                    dict(body),
                    reason="ConflictDetected",
                    message=f"path {conflict.path} ({conflict.reason}); local value kept",
                    warning=True,
                )
        for path in outcome.takeovers:
            await emit_event(
                self.deps.client,
                dict(body),
                reason="SecretOverwritten",
                message=f"path {path}: local value replaced by the remote one (overwrite policy)",
                warning=True,
            )
        if previous.status in (Health.ERROR, Health.DEGRADED) and status.status is Health.HEALTHY:
            await emit_event(
                self.deps.client, dict(body), reason="Recovered", message=status.message or ""
            )
        if outcome.item_errors and previous.message != status.message:
            await emit_event(
                self.deps.client,
                dict(body),
                reason=c.PARTIAL_SYNC,
                message=status.message or "",
                warning=True,
            )
        log.info(
            "synced %s/%s: %d synced, %d written, %d conflicts, %d ms",
            self.namespace,
            self.name,
            outcome.secrets_synced,
            outcome.written,
            len(outcome.conflicts),
            outcome.duration_ms,
        )

    async def _record_probe(self, body: Mapping[str, Any], latency: float) -> None:
        previous = self._previous(body)
        ident, generation, now = self._ids(body)
        status = after_probe(
            previous,
            latency_ms=latency,
            now=now,
            generation=generation,
            backend_id=ident,
            reason=c.PROXY_MODE,
            message="proxy mode: reads pass through to the backend",
        )
        await self._write(status)

    async def _record_suspended(self, body: Mapping[str, Any]) -> None:
        previous = self._previous(body)
        if previous.message == "sync suspended":
            return
        ident, generation, now = self._ids(body)
        conds = set_condition(
            previous.conditions, c.SYNCED, False, c.SUSPENDED, "sync suspended", now, generation
        )
        status = previous.model_copy(
            update={
                "id": ident,
                "message": "sync suspended",
                "observed_generation": generation,
                "conditions": conds,
            }
        )
        await self._write(status)

    async def _record_failure(
        self, body: Mapping[str, Any], error: Exception, message: str
    ) -> None:
        previous = self._previous(body)
        ident, generation, now = self._ids(body)
        status = after_failure(
            previous, error, now=now, generation=generation, backend_id=ident, message=message
        )
        await self._write(status)
        if previous.message != message:
            await emit_event(
                self.deps.client,
                dict(body),
                reason=error_reason(error),
                message=message,
                warning=True,
            )
        log.warning("%s/%s: %s", self.namespace, self.name, message)
