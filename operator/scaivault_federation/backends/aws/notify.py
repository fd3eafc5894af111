"""AWS Secrets Manager changes, as an EventBridge API destination delivers them.

EventBridge events of Secrets Manager API calls recorded by CloudTrail
(``detail-type`` "AWS API Call via CloudTrail", ``detail.eventName``
``PutSecretValue``, ``UpdateSecret``, ``RotateSecret``, ...) and of rotations
("AWS Service Event via CloudTrail", ``RotationSucceeded``), the secret in
``detail.requestParameters.secretId`` (a name or an ARN) or
``detail.responseElements``. One event per call, or an array of them.

A change concerns the backends of the event's region (a backend path is the
secret's name, as the store names it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ...models.config import BackendConfig
from ..changes import (
    MAX_EVENTS,
    ChangeReceiver,
    Ignored,
    Parsed,
    SecretChange,
    deliveries,
    missing,
    read_as,
)
from .config import NAME, AwsConfig

SOURCE = "aws.secretsmanager"
CHANGES = frozenset(
    {
        "CreateSecret",
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "RotateSecret",
        "RotationSucceeded",
        "DeleteSecret",
        "RestoreSecret",
    }
)
#: where an event may name its secret, in the order looked at
SECRET_FIELDS = (
    ("requestParameters", "secretId"),
    ("requestParameters", "name"),
    ("responseElements", "arn"),
    ("responseElements", "aRN"),
    ("responseElements", "name"),
    ("additionalEventData", "SecretId"),
    ("serviceEventDetails", "secretId"),
)

_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")

Section = dict[str, Any] | None


class CloudTrailDetail(BaseModel):
    """The CloudTrail record of the call (the fields the receiver reads)."""

    model_config = ConfigDict(extra="allow")

    eventName: str | None = Field(default=None, examples=["PutSecretValue"])
    eventSource: str | None = None
    awsRegion: str | None = None
    errorCode: str | None = None
    requestParameters: Section = None
    responseElements: Section = None
    additionalEventData: Section = None
    serviceEventDetails: Section = None


class EventBridgeEvent(BaseModel):
    """An EventBridge event of a Secrets Manager API call (CloudTrail), as an API
    destination delivers it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1)
    source: str | None = Field(default=None, examples=[SOURCE])
    detail_type: str | None = Field(
        default=None, alias="detail-type", examples=["AWS API Call via CloudTrail"]
    )
    region: str | None = None
    account: str | None = None
    time: str | None = None
    detail: CloudTrailDetail | None = None


#: a delivery: one event, or an array of them
Batch = Annotated[list[EventBridgeEvent], Field(min_length=1, max_length=MAX_EVENTS)]
Delivery = EventBridgeEvent | Batch


@dataclass(frozen=True)
class AwsChange(SecretChange):
    region: str | None = None

    def backend_path(self, config: BackendConfig) -> str | None:
        if not isinstance(config, AwsConfig):
            return None
        if self.region is not None and self.region != config.region:
            return None
        return self.name


def secret_name(secret_id: str) -> tuple[str, str | None]:
    """``(name, region or None)`` of a Secrets Manager secret id: a name as it is, an ARN
    without its random six-character suffix."""
    if not secret_id.startswith("arn:"):
        return secret_id, None
    parts = secret_id.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
        raise ValueError("not a Secrets Manager secret ARN")
    name = _ARN_SUFFIX.sub("", parts[6])
    if not name:
        raise ValueError("an ARN without a secret name")
    return name, parts[3] or None


def _secret_id(detail: CloudTrailDetail) -> tuple[str, str] | None:
    """The secret id an event names, and the field it came from."""
    for section, key in SECRET_FIELDS:
        part = getattr(detail, section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
            return part[key], f"detail.{section}.{key}"
    return None


def parse(body: Any) -> list[Parsed]:
    """EventBridge events, as an API destination delivers them (one event per call; an
    array of events is read too)."""
    parsed: list[Parsed] = []
    for prefix, raw in deliveries(body):
        event = read_as(EventBridgeEvent, raw, prefix)
        kind = event.detail_type or ""
        if event.source != SOURCE:
            parsed.append(Ignored(event.id, kind, "not an AWS Secrets Manager event"))
            continue
        detail = event.detail
        if detail is None:
            raise missing(prefix + "detail", "must be a JSON object")
        name = detail.eventName or ""
        if name not in CHANGES:
            reason = f"{name or kind or 'this event'} changes no secret value"
            parsed.append(Ignored(event.id, name or kind, reason))
            continue
        if detail.errorCode:
            parsed.append(Ignored(event.id, name, "the call failed; nothing changed"))
            continue
        found = _secret_id(detail)
        if found is None:
            raise missing(prefix + "detail.requestParameters.secretId", "the event names no secret")
        secret_id, field = found
        try:
            secret, arn_region = secret_name(secret_id)
        except ValueError as exc:
            raise missing(prefix + field, str(exc)) from None
        region = event.region or detail.awsRegion or arn_region
        parsed.append(AwsChange(NAME, event.id, name, secret, region=region or None))
    return parsed


RECEIVER = ChangeReceiver(
    path="aws",
    summary="AWS Secrets Manager changes from an EventBridge API destination: a per-path "
    "sync of every backend that maps the secret.",
    body=Delivery,
    parse=parse,
)
