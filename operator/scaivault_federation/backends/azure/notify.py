"""Azure Key Vault changes, as Event Grid delivers them: the events
``Microsoft.KeyVault.SecretNewVersionCreated``, ``SecretNearExpiry`` and
``SecretExpired``, in the Event Grid schema (a JSON array) or the CloudEvents
1.0 schema (one event or an array), and Event Grid's subscription validation
(an event answered with its code, or the CloudEvents webhook ``OPTIONS``
handshake).

A change concerns the backends whose ``vaultUrl`` is the event's vault (its
secret id's origin, else its vault name as the first label of the backend's
host); the secret name becomes a backend path through the naming rule
(:mod:`.names`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ...models.config import BackendConfig
from ..changes import (
    MAX_EVENTS,
    ChangeReceiver,
    Ignored,
    Parsed,
    SecretChange,
    Validation,
    deliveries,
    missing,
    read_as,
)
from .config import NAME, AzureConfig
from .names import azure_path

PREFIX = "Microsoft.KeyVault."
CHANGES = frozenset(
    PREFIX + kind for kind in ("SecretNewVersionCreated", "SecretNearExpiry", "SecretExpired")
)
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"

EventData = dict[str, Any] | None
_DATA = (
    "the Key Vault event's data (Id, VaultName, ObjectType, ObjectName), or the "
    "validation event's validationCode"
)


class EventGridEvent(BaseModel):
    """An Event Grid schema event (Microsoft.KeyVault.SecretNewVersionCreated,
    SecretNearExpiry, SecretExpired, or Microsoft.EventGrid.SubscriptionValidationEvent)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    eventType: str = Field(min_length=1)
    topic: str | None = None
    subject: str | None = None
    eventTime: str | None = None
    data: EventData = Field(default=None, description=_DATA)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event as Event Grid delivers it."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str | None = None
    subject: str | None = None
    time: str | None = None
    data: EventData = Field(default=None, description=_DATA)


class KeyVaultEventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    Id: str | None = None
    VaultName: str | None = None
    ObjectType: str | None = None
    ObjectName: str | None = None


class ValidationData(BaseModel):
    model_config = ConfigDict(extra="allow")

    validationCode: str = Field(min_length=1)


class EventGridValidation(BaseModel):
    """The answer to Event Grid's subscription validation event."""

    validationResponse: str


Batch = Annotated[list[EventGridEvent | CloudEvent], Field(min_length=1, max_length=MAX_EVENTS)]
#: a delivery: an array of events (either schema), or one CloudEvent
Delivery = Batch | CloudEvent


@dataclass(frozen=True)
class AzureChange(SecretChange):
    vault_name: str | None = None
    #: scheme://host[:port] of the secret's id
    vault_origin: str | None = None

    def backend_path(self, config: BackendConfig) -> str | None:
        if not isinstance(config, AzureConfig) or not self._same_vault(config.vault_url):
            return None
        return azure_path(self.name)

    def _same_vault(self, vault_url: str) -> bool:
        origin = vault_origin(vault_url)
        if origin is None:
            return False
        if self.vault_origin is not None and self.vault_origin == origin:
            return True
        host = origin.split("://", 1)[1].split(":", 1)[0]
        label = host.split(".", 1)[0]
        return (
            self.vault_name is not None
            and "." in host
            and not host.replace(".", "").isdigit()
            and label == self.vault_name
        )


def vault_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a Key Vault URL, lower-cased, without a default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname.lower()
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    shown = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{shown}"


def _event(raw: Any, prefix: str) -> tuple[str, str, str | None, EventData]:
    """``(id, type, subject, data)`` of an event in either schema."""
    if isinstance(raw, dict) and "specversion" in raw:
        cloud = read_as(CloudEvent, raw, prefix)
        return cloud.id, cloud.type, cloud.subject, cloud.data
    grid = read_as(EventGridEvent, raw, prefix)
    return grid.id, grid.eventType, grid.subject, grid.data


def parse(body: Any) -> list[Parsed]:
    """Event Grid deliveries: the Event Grid schema (an array) or CloudEvents 1.0 (one
    event, or an array in batch mode)."""
    parsed: list[Parsed] = []
    for prefix, raw in deliveries(body):
        event_id, kind, subject, data = _event(raw, prefix)
        if kind == VALIDATION:
            code = read_as(ValidationData, _object(data, prefix), prefix + "data.").validationCode
            parsed.append(Validation(event_id, EventGridValidation(validationResponse=code)))
            continue
        if kind not in CHANGES:
            parsed.append(Ignored(event_id, kind, f"{kind} changes no secret value"))
            continue
        found = read_as(KeyVaultEventData, _object(data, prefix), prefix + "data.")
        if found.ObjectType not in (None, "Secret"):
            parsed.append(Ignored(event_id, kind, f"a {found.ObjectType}, not a secret"))
            continue
        name = found.ObjectName or subject
        if not name:
            raise missing(prefix + "data.ObjectName", "missing")
        origin = vault_origin(found.Id) if found.Id else None
        if origin is None and not found.VaultName:
            raise missing(prefix + "data.VaultName", "the event names no vault (VaultName or Id)")
        parsed.append(
            AzureChange(
                NAME,
                event_id,
                kind.removeprefix(PREFIX),
                name,
                vault_name=found.VaultName.lower() if found.VaultName else None,
                vault_origin=origin,
            )
        )
    return parsed


def _object(data: EventData, prefix: str) -> dict[str, Any]:
    if data is None:
        raise missing(prefix + "data", "must be a JSON object")
    return data


RECEIVER = ChangeReceiver(
    path="azure",
    summary="Azure Key Vault events from Event Grid (Event Grid or CloudEvents schema); answers "
    "the subscription validation event with its code.",
    body=Delivery,
    parse=parse,
    content_types=(
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    ),
    validation_answer=EventGridValidation,
    webhook_handshake=True,
)
