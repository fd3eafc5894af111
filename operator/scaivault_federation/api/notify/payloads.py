"""The providers' change deliveries, in outline, for the OpenAPI document: the fields
the parsers of :mod:`.events` read, and the Azure receiver's two kinds of answer."""

from __future__ import annotations

from typing import Any

from ...models.notify import EventGridValidation, NotifyResult
from ..route import Schema, ref

_TEXT: dict[str, Any] = {"type": "string"}

EVENTBRIDGE_EVENT = Schema(
    {
        "type": "object",
        "description": "An EventBridge event of a Secrets Manager API call (CloudTrail), as an "
        "API destination delivers it.",
        "required": ["id", "source", "detail"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "source": {"type": "string", "examples": ["aws.secretsmanager"]},
            "detail-type": {"type": "string", "examples": ["AWS API Call via CloudTrail"]},
            "region": _TEXT,
            "account": _TEXT,
            "time": _TEXT,
            "detail": {
                "type": "object",
                "properties": {
                    "eventName": {"type": "string", "examples": ["PutSecretValue"]},
                    "eventSource": _TEXT,
                    "awsRegion": _TEXT,
                    "errorCode": _TEXT,
                    "requestParameters": {
                        "type": ["object", "null"],
                        "properties": {"secretId": _TEXT, "name": _TEXT},
                    },
                    "responseElements": {
                        "type": ["object", "null"],
                        "properties": {"arn": _TEXT, "name": _TEXT},
                    },
                },
            },
        },
    },
    name="EventBridgeEvent",
)


PUBSUB_PUSH = Schema(
    {
        "type": "object",
        "description": "A Pub/Sub push delivery of a Secret Manager event notification.",
        "required": ["message"],
        "properties": {
            "subscription": _TEXT,
            "message": {
                "type": "object",
                "required": ["messageId"],
                "properties": {
                    "messageId": {"type": "string", "minLength": 1},
                    "publishTime": _TEXT,
                    "data": {"type": "string", "description": "base64; not read"},
                    "attributes": {
                        "type": "object",
                        "additionalProperties": _TEXT,
                        "properties": {
                            "eventType": {"type": "string", "examples": ["SECRET_VERSION_ADD"]},
                            "secretId": {
                                "type": "string",
                                "examples": ["projects/my-project/secrets/db-password"],
                            },
                        },
                    },
                },
            },
        },
    },
    name="PubSubPush",
)


EVENT_GRID_EVENT = Schema(
    {
        "type": "object",
        "description": "An Event Grid schema event (Microsoft.KeyVault.SecretNewVersionCreated, "
        "SecretNearExpiry, SecretExpired, or Microsoft.EventGrid.SubscriptionValidationEvent).",
        "required": ["id", "eventType"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "eventType": _TEXT,
            "topic": _TEXT,
            "subject": _TEXT,
            "eventTime": _TEXT,
            "data": {"type": "object"},
        },
    },
    name="EventGridEvent",
)


CLOUD_EVENT = Schema(
    {
        "type": "object",
        "description": "A CloudEvents 1.0 event as Event Grid delivers it.",
        "required": ["specversion", "id", "type"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "minLength": 1},
            "type": _TEXT,
            "source": _TEXT,
            "subject": _TEXT,
            "time": _TEXT,
            "data": {"type": "object"},
        },
    },
    name="CloudEvent",
)


#: Event Grid's delivery: a batch of events of either schema, or one CloudEvent
AZURE_DELIVERY = Schema(
    {
        "anyOf": [
            {
                "type": "array",
                "minItems": 1,
                "items": {"anyOf": [ref(EVENT_GRID_EVENT), ref(CLOUD_EVENT)]},
            },
            ref(CLOUD_EVENT),
        ]
    },
    uses=(EVENT_GRID_EVENT, CLOUD_EVENT),
)

#: what became of each event, or the validation handshake's answer
EVENT_GRID_ANSWER = Schema(
    {"anyOf": [ref(NotifyResult), ref(EventGridValidation)]},
    name="EventGridAnswer",
    uses=(NotifyResult, EventGridValidation),
)
