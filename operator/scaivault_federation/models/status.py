"""The FederationBackend status: what the operator writes and the API serves."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from .base import CamelModel


class Health(StrEnum):
    PENDING = "pending"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    ERROR = "error"


class ConnectionState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


class Connection(CamelModel):
    status: ConnectionState = ConnectionState.UNKNOWN
    latency_ms: int | None = None
    checked_at: datetime | None = None
    message: str | None = None


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Conflict(CamelModel):
    path: str
    remote_path: str
    reason: str
    detected_at: datetime


class Condition(CamelModel):
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class RecordedName(CamelModel):
    """A synced Secret whose name a template gave: the API finds the Secret of ``path``
    by this, never rendering a template on a request."""

    path: str
    name: str
    #: the namespace of a ClusterFederationBackend's Secret
    namespace: str | None = None


class BackendStatus(CamelModel):
    id: str | None = None
    status: Health = Health.PENDING
    last_sync: datetime | None = None
    last_sync_duration_ms: int | None = None
    secrets_synced: int | None = None
    conflict_count: int | None = None
    connection: Connection | None = None
    conflicts: list[Conflict] = Field(default_factory=list)
    message: str | None = None
    next_sync_at: datetime | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    secret_names: list[RecordedName] = Field(default_factory=list)

    def recorded_name(self, path: str, namespace: str | None = None) -> str | None:
        """The name of the Secret of ``path`` if a template gave it one."""
        for entry in self.secret_names:
            if entry.path == path and entry.namespace == namespace:
                return entry.name
        return None


def backend_id(uid: str) -> str:
    """The stable public id of a backend, derived from its ``metadata.uid``."""
    return "fed_" + hashlib.sha256(uid.encode()).hexdigest()[:12]
