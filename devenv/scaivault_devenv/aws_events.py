"""Secrets Manager change events as EventBridge delivers them to an API destination
(a CloudTrail "AWS API Call" event), for the tests and benchmarks that post them to
the API's change receiver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def eventbridge_event(
    secret_id: str, region: str, name: str = "PutSecretValue", **detail: Any
) -> dict[str, Any]:
    """The event of a ``name`` call on ``secret_id`` (a name or an ARN) in ``region``;
    ``detail`` adds to or replaces fields of the CloudTrail record."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "awsRegion": region,
            "requestParameters": {"secretId": secret_id},
            "responseElements": None,
            **detail,
        },
    }
