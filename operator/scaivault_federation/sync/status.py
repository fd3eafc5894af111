"""Outcome of a sync or probe -> the CR status. Pure: the handlers write it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from .. import conditions as c
from ..errors import FederationError, is_retryable, reason_of
from ..models.secret import LocalSecret
from ..models.status import (
    BackendStatus,
    Condition,
    ConditionStatus,
    Conflict,
    Connection,
    ConnectionState,
    Health,
    RecordedName,
)
from ..paths import secret_name_for_path
from .service import SyncOutcome

S = TypeVar("S", bound=BackendStatus)

#: status.conflicts lists at most this many (the CRD's maxItems); conflictCount counts all
MAX_LISTED_CONFLICTS = 1000
#: status.secretNames lists at most this many (the CRD's maxItems)
MAX_RECORDED_NAMES = 1000


def recorded_names(
    found: Iterable[tuple[str | None, LocalSecret]],
) -> list[RecordedName]:
    """The Secrets (with the namespace of a cluster backend's) whose name is not the one
    their path gives: a name template's, which the API must find without rendering it."""
    names = [
        RecordedName(path=secret.path, name=secret.name, namespace=namespace)
        for namespace, secret in found
        if secret.path is not None and secret.name != secret_name_for_path(secret.path)
    ]
    names.sort(key=lambda n: (n.namespace or "", n.path))
    return names[:MAX_RECORDED_NAMES]


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Replace the condition of ``type_``; keep its transition time if status did not flip."""
    text = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    old = next((cond for cond in conditions if cond.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == text else now
    new = Condition(
        type=type_,
        status=text,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [cond for cond in conditions if cond.type != type_] + [new]


def after_sync(
    previous: S,
    outcome: SyncOutcome,
    *,
    latency_ms: float,
    now: datetime,
    generation: int | None,
    backend_id: str,
) -> S:
    known = {(x.path, x.reason): x.detected_at for x in previous.conflicts}
    conflicts = [
        Conflict(
            path=x.path,
            remote_path=x.remote_path,
            reason=x.reason.value,
            detected_at=known.get((x.path, x.reason.value), now),
        )
        for x in outcome.conflicts
    ]
    if outcome.item_errors:
        health, reason = Health.DEGRADED, c.PARTIAL_SYNC
        paths = sorted(outcome.item_errors)
        message = f"{len(paths)} path(s) failed: " + "; ".join(
            f"{p}: {outcome.item_errors[p]}" for p in paths[:5]
        )
    elif conflicts:
        health, reason = Health.HEALTHY, c.SYNCED_WITH_CONFLICTS
        message = f"{outcome.secrets_synced} secret(s) synced, {len(conflicts)} conflict(s)"
    else:
        health, reason = Health.HEALTHY, c.SYNC_SUCCEEDED
        message = f"{outcome.secrets_synced} secret(s) synced"
    conds = set_condition(
        previous.conditions, c.SYNCED, not outcome.item_errors, reason, message, now, generation
    )
    conds = set_condition(conds, c.READY, True, reason, message, now, generation)
    return previous.model_copy(
        update={
            "id": backend_id,
            "status": health,
            "last_sync": now,
            "last_sync_duration_ms": outcome.duration_ms,
            "secrets_synced": outcome.secrets_synced,
            "conflict_count": len(conflicts),
            "conflicts": conflicts[:MAX_LISTED_CONFLICTS],
            "connection": Connection(
                status=ConnectionState.CONNECTED,
                latency_ms=max(1, round(latency_ms)),
                checked_at=now,
                message="",
            ),
            "message": message,
            "observed_generation": generation,
            "conditions": conds,
            "secret_names": outcome.secret_names[:MAX_RECORDED_NAMES],
        }
    )


def after_failure(
    previous: BackendStatus,
    error: BaseException,
    *,
    now: datetime,
    generation: int | None,
    backend_id: str,
    message: str,
) -> BackendStatus:
    """Keep every synced figure; say what failed. Retryable failures are ``degraded``."""
    reason = reason_of(error)
    retryable = is_retryable(error)
    health = Health.DEGRADED if retryable and previous.last_sync is not None else Health.ERROR
    reachable = isinstance(error, FederationError) and error.reachable
    connection = Connection(
        status=ConnectionState.CONNECTED if reachable else ConnectionState.DISCONNECTED,
        latency_ms=previous.connection.latency_ms if previous.connection else None,
        checked_at=now,
        message=message,
    )
    conds = set_condition(previous.conditions, c.SYNCED, False, reason, message, now, generation)
    conds = set_condition(conds, c.READY, False, reason, message, now, generation)
    return previous.model_copy(
        update={
            "id": backend_id,
            "status": health,
            "connection": connection,
            "message": message,
            "observed_generation": generation,
            "conditions": conds,
        }
    )


def after_probe(
    previous: BackendStatus,
    *,
    latency_ms: float,
    now: datetime,
    generation: int | None,
    backend_id: str,
    reason: str,
    message: str,
) -> BackendStatus:
    """Proxy mode, or a suspended sync: only the connection is checked."""
    conds = set_condition(previous.conditions, c.READY, True, reason, message, now, generation)
    conds = set_condition(conds, c.SYNCED, False, reason, message, now, generation)
    return previous.model_copy(
        update={
            "id": backend_id,
            "status": Health.HEALTHY,
            "connection": Connection(
                status=ConnectionState.CONNECTED,
                latency_ms=max(1, round(latency_ms)),
                checked_at=now,
                message="",
            ),
            "message": message,
            "observed_generation": generation,
            "conditions": conds,
        }
    )


def after_idle_probe(
    previous: BackendStatus, *, latency_ms: float, now: datetime, backend_id: str
) -> BackendStatus:
    """``refreshPolicy: OnChange`` between changes: the last sync's figures and
    conditions stand; only the connection is checked again."""
    return previous.model_copy(
        update={
            "id": backend_id,
            "connection": Connection(
                status=ConnectionState.CONNECTED,
                latency_ms=max(1, round(latency_ms)),
                checked_at=now,
                message="",
            ),
        }
    )
