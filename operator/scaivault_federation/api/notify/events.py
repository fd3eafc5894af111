"""The providers' change events, read into one shape: which secret changed where.

Each reader takes the parsed JSON body a provider delivers and returns one item
per event: a :class:`SecretChange`, an :class:`Ignored` event (another kind of
event, a failed call: acknowledged, nothing synced) or, for Event Grid, the
:class:`Validation` handshake. A body that is not the provider's shape raises
:class:`~..models.api.FieldError` naming the field (a 400). Nothing here does I/O.

- AWS: EventBridge events of Secrets Manager API calls recorded by CloudTrail
  (``detail-type`` "AWS API Call via CloudTrail", ``detail.eventName``
  ``PutSecretValue``, ``UpdateSecret``, ``RotateSecret``, ...) and of rotations
  ("AWS Service Event via CloudTrail", ``RotationSucceeded``), the secret in
  ``detail.requestParameters.secretId`` (a name or an ARN) or
  ``detail.responseElements``.
- Google: Pub/Sub push messages of Secret Manager event notifications
  (``message.attributes.eventType`` ``SECRET_VERSION_ADD``, ...,
  ``secretId`` ``projects/P/secrets/S``).
- Azure: Event Grid events ``Microsoft.KeyVault.SecretNewVersionCreated``,
  ``SecretNearExpiry`` and ``SecretExpired``, in the Event Grid schema (a JSON
  array) or the CloudEvents 1.0 schema (one event or an array).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...backends.aws.config import NAME as AWS
from ...backends.azure.config import NAME as AZURE
from ...backends.google.config import NAME as GOOGLE
from ...models.api import FieldError

MAX_EVENTS = 100

AWS_SOURCE = "aws.secretsmanager"
AWS_CHANGES = frozenset(
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
GOOGLE_CHANGES = frozenset(
    {
        "SECRET_CREATE",
        "SECRET_DELETE",
        "SECRET_VERSION_ADD",
        "SECRET_VERSION_ENABLE",
        "SECRET_VERSION_DISABLE",
        "SECRET_VERSION_DESTROY",
    }
)
AZURE_PREFIX = "Microsoft.KeyVault."
AZURE_CHANGES = frozenset(
    AZURE_PREFIX + kind for kind in ("SecretNewVersionCreated", "SecretNearExpiry", "SecretExpired")
)
AZURE_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"

_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
_GOOGLE_SECRET = re.compile(r"^projects/([^/]+)/secrets/([^/]+)(?:/versions/[^/]+)?$")


@dataclass(frozen=True)
class SecretChange:
    """One remote secret that changed, named as its store names it."""

    provider: str
    event_id: str
    kind: str
    #: the AWS secret name, the Google secret id, the Key Vault secret name
    name: str
    region: str | None = None  # AWS
    project: str | None = None  # Google: the project id or number
    vault_name: str | None = None  # Azure
    vault_origin: str | None = None  # Azure: scheme://host[:port] of the secret's id


@dataclass(frozen=True)
class Ignored:
    """An event that asks for nothing: acknowledged as the provider expects."""

    event_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Validation:
    """Event Grid's subscription validation handshake."""

    event_id: str
    code: str


Parsed = SecretChange | Ignored | Validation


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(field or None, f"{field or 'the body'}: must be a JSON object")
    return value


def _text(doc: Mapping[str, Any], key: str, field: str, *, required: bool = True) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise FieldError(field, f"{field}: must be a non-empty string")
    return value


def _events(body: Any, what: str) -> list[tuple[str, Any]]:
    """``(field prefix, event)`` of a body holding one event or a JSON array of them."""
    if isinstance(body, list):
        if not body:
            raise FieldError(None, f"the body: an array of {what} must not be empty")
        if len(body) > MAX_EVENTS:
            raise FieldError(None, f"the body: at most {MAX_EVENTS} {what} per delivery")
        return [(f"[{index}].", event) for index, event in enumerate(body)]
    return [("", body)]


# --- AWS ---------------------------------------------------------------------------------


def aws_secret_name(secret_id: str) -> tuple[str, str | None]:
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


def _aws_secret_id(detail: Mapping[str, Any]) -> tuple[str, str] | None:
    """The secret id an event names, and the field it came from."""
    for section, key in (
        ("requestParameters", "secretId"),
        ("requestParameters", "name"),
        ("responseElements", "arn"),
        ("responseElements", "aRN"),
        ("responseElements", "name"),
        ("additionalEventData", "SecretId"),
        ("serviceEventDetails", "secretId"),
    ):
        part = detail.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
            return part[key], f"detail.{section}.{key}"
    return None


def parse_eventbridge(body: Any) -> list[Parsed]:
    """EventBridge events, as an API destination delivers them (one event per call; an
    array of events is read too)."""
    parsed: list[Parsed] = []
    for prefix, raw in _events(body, "events"):
        event = _object(raw, prefix.rstrip("."))
        event_id = _text(event, "id", prefix + "id")
        assert event_id is not None
        kind = str(event.get("detail-type") or "")
        if event.get("source") != AWS_SOURCE:
            parsed.append(Ignored(event_id, kind, "not an AWS Secrets Manager event"))
            continue
        detail = _object(event.get("detail"), prefix + "detail")
        name = str(detail.get("eventName") or "")
        if name not in AWS_CHANGES:
            reason = f"{name or kind or 'this event'} changes no secret value"
            parsed.append(Ignored(event_id, name or kind, reason))
            continue
        if detail.get("errorCode"):
            parsed.append(Ignored(event_id, name, "the call failed; nothing changed"))
            continue
        found = _aws_secret_id(detail)
        if found is None:
            raise FieldError(
                prefix + "detail.requestParameters.secretId",
                f"{prefix}detail.requestParameters.secretId: the event names no secret",
            )
        secret_id, field = found
        try:
            secret, arn_region = aws_secret_name(secret_id)
        except ValueError as exc:
            raise FieldError(prefix + field, f"{prefix}{field}: {exc}") from None
        region = event.get("region") or detail.get("awsRegion") or arn_region
        parsed.append(
            SecretChange(
                AWS,
                event_id,
                name,
                secret,
                region=str(region) if region else None,
            )
        )
    return parsed


# --- Google --------------------------------------------------------------------------------


def parse_pubsub_push(body: Any) -> list[Parsed]:
    """One Pub/Sub push delivery (``{"message": {...}, "subscription": ...}``)."""
    envelope = _object(body, "")
    message = _object(envelope.get("message"), "message")
    event_id = message.get("messageId") or message.get("message_id")
    if not isinstance(event_id, str) or not event_id:
        raise FieldError("message.messageId", "message.messageId: must be a non-empty string")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise FieldError("message.attributes", "message.attributes: must be a JSON object")
    kind = attributes.get("eventType")
    if not isinstance(kind, str) or kind not in GOOGLE_CHANGES:
        reason = (
            f"{kind} changes no secret value"
            if isinstance(kind, str) and kind
            else "not a Secret Manager event notification"
        )
        return [Ignored(event_id, str(kind or ""), reason)]
    secret = attributes.get("secretId")
    matched = _GOOGLE_SECRET.match(secret) if isinstance(secret, str) else None
    if matched is None:
        raise FieldError(
            "message.attributes.secretId",
            "message.attributes.secretId: must be projects/PROJECT/secrets/SECRET",
        )
    project, secret_id = matched.groups()
    return [SecretChange(GOOGLE, event_id, kind, secret_id, project=project)]


# --- Azure ---------------------------------------------------------------------------------


def _origin(url: str) -> str | None:
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


def vault_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a Key Vault URL, lower-cased, without a default port."""
    return _origin(url)


def parse_event_grid(body: Any) -> list[Parsed]:
    """Event Grid deliveries: the Event Grid schema (an array) or CloudEvents 1.0 (one
    event, or an array in batch mode)."""
    parsed: list[Parsed] = []
    for prefix, raw in _events(body, "events"):
        event = _object(raw, prefix.rstrip("."))
        cloud = "specversion" in event
        type_key = "type" if cloud else "eventType"
        event_id = _text(event, "id", prefix + "id")
        kind = _text(event, type_key, prefix + type_key)
        assert event_id is not None and kind is not None
        if kind == AZURE_VALIDATION:
            data = _object(event.get("data"), prefix + "data")
            code = _text(data, "validationCode", prefix + "data.validationCode")
            assert code is not None
            parsed.append(Validation(event_id, code))
            continue
        if kind not in AZURE_CHANGES:
            parsed.append(Ignored(event_id, kind, f"{kind} changes no secret value"))
            continue
        data = _object(event.get("data"), prefix + "data")
        object_type = data.get("ObjectType")
        if object_type not in (None, "Secret"):
            parsed.append(Ignored(event_id, kind, f"a {object_type}, not a secret"))
            continue
        name = data.get("ObjectName") or event.get("subject")
        if not isinstance(name, str) or not name:
            raise FieldError(prefix + "data.ObjectName", f"{prefix}data.ObjectName: missing")
        secret_url = data.get("Id")
        origin = _origin(secret_url) if isinstance(secret_url, str) else None
        vault = data.get("VaultName")
        if origin is None and not (isinstance(vault, str) and vault):
            raise FieldError(
                prefix + "data.VaultName",
                f"{prefix}data.VaultName: the event names no vault (VaultName or Id)",
            )
        parsed.append(
            SecretChange(
                AZURE,
                event_id,
                kind.removeprefix(AZURE_PREFIX),
                name,
                vault_name=vault.lower() if isinstance(vault, str) and vault else None,
                vault_origin=origin,
            )
        )
    return parsed
