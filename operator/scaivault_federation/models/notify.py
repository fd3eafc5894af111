"""Wire shapes of the cloud change receivers (``/v1/federation/notify/...``): what they
answer. The request bodies are the providers' own, modelled by each backend
type's receiver (``backends/<type>/notify.py``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from .api import BackendScope


class EventOutcome(StrEnum):
    #: a per-path sync of every backend that maps the secret was requested
    SYNC_REQUESTED = "sync_requested"
    #: a secret change no sync-mode backend maps (nothing is written)
    UNMAPPED = "unmapped"
    #: another kind of event, or a failed call: nothing to do
    IGNORED = "ignored"
    #: an event id seen a short while ago: handled then
    DUPLICATE = "duplicate"


class NotifiedEvent(BaseModel):
    id: str
    outcome: EventOutcome
    reason: str | None = None


class NotifiedBackend(BaseModel):
    id: str
    name: str
    #: ``None`` for a ClusterFederationBackend
    namespace: str | None
    #: ``namespace`` (a FederationBackend) or ``cluster`` (a ClusterFederationBackend)
    scope: BackendScope
    #: the ScaiVault paths requested for sync (a cluster backend syncs them in each
    #: namespace it selects)
    paths: list[str]
    sync_requested_at: str


class NotifyResult(BaseModel):
    """What a delivery did, event by event; no secret value, ever."""

    events: list[NotifiedEvent]
    synced: list[NotifiedBackend]
