"""Sync from AWS Secrets Manager (a moto server with IAM authentication on) into
Secrets of the real apiserver."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.moto import MotoServer
from tests.backends.harness_aws import put_secret

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e


BLOB = bytes(range(256)) + b"\x00\xff"


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


async def aws_backend(
    cluster: Cluster,
    server: MotoServer,
    name: str,
    prefix: str,
    *,
    secret_access_key: str | None = None,
) -> None:
    await cluster.put_credentials(
        "creds-aws",
        {
            "access_key_id": server.access_key_id,
            "secret_access_key": secret_access_key or server.secret_access_key,
        },
    )
    await cluster.create_backend(
        name,
        {
            "type": "aws-secrets-manager",
            "config": {
                "region": server.region,
                "endpoint": server.endpoint,
                "credentialsPath": "creds/aws",
            },
            "pathMapping": {"external/aws/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )


async def test_json_string_and_binary_secrets_sync(
    cluster: Cluster, moto_server: MotoServer, operator_log: Path
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    admin = moto_server.client("secretsmanager")
    put_secret(admin, f"{prefix}/payments/db", {"username": "app", "password": "aws-pw-canary-1"})
    put_secret(admin, f"{prefix}/api-token", "plain-token-1")
    put_secret(admin, f"{prefix}/web/tls-bundle", BLOB)
    await aws_backend(cluster, moto_server, "aws-a", prefix)

    status = await cluster.wait_status("aws-a", healthy)
    assert status["secretsSynced"] == 3
    assert status["connection"]["status"] == "connected"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"

    db = await cluster.secret("external-aws-payments-db")
    assert db is not None and decoded(db) == {"username": "app", "password": "aws-pw-canary-1"}
    meta = db["metadata"]
    assert meta["labels"]["federation.scaivault.io/backend"] == "aws-a"
    assert meta["annotations"]["federation.scaivault.io/path"] == "external/aws/payments/db"
    assert meta["annotations"]["federation.scaivault.io/remote-path"] == f"{prefix}/payments/db"
    token = await cluster.secret("external-aws-api-token")
    assert token is not None and decoded(token) == {"value": "plain-token-1"}
    tls = await cluster.secret("external-aws-web-tls-bundle")
    assert tls is not None and list(tls["data"]) == ["value"]
    assert base64.b64decode(tls["data"]["value"]) == BLOB

    # a new current version reaches the Secret on the next sync; the others stay untouched
    before = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets("federation.scaivault.io/backend=aws-a")
    }
    put_secret(admin, f"{prefix}/api-token", json.dumps({"token": "rotated-token-2"}))
    await cluster.sync_now("aws-a")
    after = {
        s["metadata"]["name"]: s
        for s in await cluster.secrets("federation.scaivault.io/backend=aws-a")
    }
    assert decoded(after["external-aws-api-token"]) == {"token": "rotated-token-2"}
    moved = sorted(n for n, s in after.items() if s["metadata"]["resourceVersion"] != before[n])
    assert moved == ["external-aws-api-token"]

    # the operator runs with -v (DEBUG): botocore's request/response dumps stay out of its log
    log = await asyncio.to_thread(operator_log.read_text)
    assert f"synced {cluster.namespace}/aws-a" in log
    for value in (
        "aws-pw-canary-1",
        "plain-token-1",
        "rotated-token-2",
        moto_server.secret_access_key,
    ):
        assert value not in log


async def test_rejected_keys_are_an_error_and_write_nothing(
    cluster: Cluster, moto_server: MotoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    put_secret(moto_server.client("secretsmanager"), f"{prefix}/x", "1")
    await aws_backend(
        cluster, moto_server, "aws-bad", prefix, secret_access_key="wrong-aws-secret-canary"
    )
    status = await cluster.wait_status("aws-bad", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed"
    assert "wrong-aws-secret-canary" not in str(status)
    assert await cluster.secrets("federation.scaivault.io/backend=aws-bad") == []
