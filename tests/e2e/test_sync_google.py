"""Sync from Google Secret Manager (the local protocol emulator, authentication on) into
Secrets of the real apiserver."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from scaivault_devenv.gsm import GoogleEmulator, make_service_account_key
from scaivault_federation.backends.google.names import google_name
from tests.backends.harness_google import (
    put_value,
)

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e

BLOB = bytes(range(256)) + b"\x00\xff"


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


async def google_backend(
    cluster: Cluster, emulator: GoogleEmulator, name: str, prefix: str, key_json: str
) -> None:
    await cluster.put_credentials("creds-google", {"credentials.json": key_json})
    await cluster.create_backend(
        name,
        {
            "type": "google-secret-manager",
            "config": {
                "project": emulator.project,
                "endpoint": emulator.endpoint,
                "credentialsPath": "creds/google",
            },
            "pathMapping": {"external/google/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )


async def test_json_string_and_binary_secrets_sync(
    cluster: Cluster,
    gsm_emulator: GoogleEmulator,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    put_value(gsm_emulator, f"{prefix}/payments/db", {"username": "app", "password": "pw-1"})
    put_value(gsm_emulator, f"{prefix}/api-token", "plain-token-1")
    put_value(gsm_emulator, f"{prefix}/web/tls-bundle", BLOB)
    put_value(gsm_emulator, f"other/{prefix}/payments/decoy", "not under the mapping")
    await google_backend(cluster, gsm_emulator, "google-a", prefix, gsm_emulator.key_json())

    status = await cluster.wait_status("google-a", healthy)
    assert status["secretsSynced"] == 3
    assert status["connection"]["status"] == "connected"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"

    db = await cluster.secret("external-google-payments-db")
    assert db is not None and decoded(db) == {"username": "app", "password": "pw-1"}
    meta = db["metadata"]
    assert meta["labels"]["federation.scaivault.io/backend"] == "google-a"
    assert meta["annotations"]["federation.scaivault.io/path"] == "external/google/payments/db"
    assert meta["annotations"]["federation.scaivault.io/remote-path"] == f"{prefix}/payments/db"
    token = await cluster.secret("external-google-api-token")
    assert token is not None and decoded(token) == {"value": "plain-token-1"}
    tls = await cluster.secret("external-google-web-tls-bundle")
    assert tls is not None and list(tls["data"]) == ["value"]
    assert base64.b64decode(tls["data"]["value"]) == BLOB

    # a newer version reaches its Secret on the next sync; the others stay untouched
    selector = "federation.scaivault.io/backend=google-a"
    before = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets(selector)
    }
    put_value(gsm_emulator, f"{prefix}/api-token", json.dumps({"token": "t-2"}))
    await cluster.sync_now("google-a")
    after = {s["metadata"]["name"]: s for s in await cluster.secrets(selector)}
    assert decoded(after["external-google-api-token"]) == {"token": "t-2"}
    moved = sorted(n for n, s in after.items() if s["metadata"]["resourceVersion"] != before[n])
    assert moved == ["external-google-api-token"]

    # a disabled latest version reads as gone: the last good copy stays (no prune)
    gsm_emulator.disable_version(google_name(f"{prefix}/api-token"), 2)
    await cluster.sync_now("google-a")
    kept = await cluster.secret("external-google-api-token")
    assert kept is not None and decoded(kept) == {"token": "t-2"}


async def test_an_untrusted_key_is_an_error_and_writes_nothing(
    cluster: Cluster,
    gsm_emulator: GoogleEmulator,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    put_value(gsm_emulator, f"{prefix}/x", "1")
    impostor, _ = make_service_account_key(gsm_emulator.project, "impostor")
    await google_backend(cluster, gsm_emulator, "google-bad", prefix, json.dumps(impostor))
    status = await cluster.wait_status("google-bad", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed"
    assert impostor["private_key"].splitlines()[1] not in str(status)
    assert await cluster.secrets("federation.scaivault.io/backend=google-bad") == []
