"""Sync from a real OpenBao server into Secrets of the real apiserver."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.models.status import backend_id

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e


def seed(openbao: OpenBaoServer, prefix: str, items: dict[str, dict[str, str]]) -> None:
    for path, data in items.items():
        openbao.request("POST", f"/v1/secret/data/{prefix}/{path}", {"data": data})


async def token_backend(
    cluster: Cluster, openbao: OpenBaoServer, name: str, prefix: str, **extra: Any
) -> None:
    await cluster.put_credentials("creds-vault-token", {"token": openbao.root_token})
    spec: dict[str, Any] = {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "authMethod": "token",
            "authConfigPath": "creds/vault-token",
        },
        "pathMapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }
    await cluster.create_backend(name, spec)


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


async def test_secrets_appear_with_data_and_status(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(
        openbao,
        prefix,
        {
            "db/password": {"username": "app", "password": "pw-1"},
            "db/replica/password": {"password": "pw-2"},
            "api": {"key": "k-1"},
        },
    )
    await token_backend(cluster, openbao, "vault-a", prefix)
    status = await cluster.wait_status("vault-a", healthy)

    cr = await cluster.get_backend("vault-a")
    assert status["id"] == backend_id(cr["metadata"]["uid"])
    assert status["secretsSynced"] == 3
    assert status["lastSyncDurationMs"] > 0
    assert status["lastSync"].endswith("Z")
    # the next sync is due after the interval (10m) with at most 10 % jitter
    last = datetime.fromisoformat(status["lastSync"])
    due = datetime.fromisoformat(status["nextSyncAt"])
    assert timedelta(minutes=9) - timedelta(seconds=2) <= due - last <= timedelta(minutes=11)
    assert status["connection"]["status"] == "connected"
    assert status["connection"]["latencyMs"] >= 1
    assert status["observedGeneration"] == cr["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Synced"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "SyncSucceeded"

    secret = await cluster.secret("external-vault-db-password")
    assert secret is not None
    assert decoded(secret) == {"username": "app", "password": "pw-1"}
    meta = secret["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "scaivault-federation"
    assert meta["labels"]["federation.scaivault.io/backend"] == "vault-a"
    assert meta["annotations"]["federation.scaivault.io/path"] == "external/vault/db/password"
    assert (
        meta["annotations"]["federation.scaivault.io/remote-path"]
        == f"secret/data/{prefix}/db/password"
    )
    assert meta["annotations"]["federation.scaivault.io/source-mac"].startswith("hmac-sha256:")
    replica = await cluster.secret("external-vault-db-replica-password")
    assert replica is not None and decoded(replica) == {"password": "pw-2"}
    api = await cluster.secret("external-vault-api")
    assert api is not None and decoded(api) == {"key": "k-1"}


async def test_second_sync_writes_nothing_and_a_change_rewrites_one_secret(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {f"svc{i}": {"token": f"t-{i}"} for i in range(5)})
    await token_backend(cluster, openbao, "vault-b", prefix)
    await cluster.wait_status("vault-b", lambda s: s.get("secretsSynced") == 5)

    selector = "federation.scaivault.io/backend=vault-b"
    before = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets(selector)
    }
    assert len(before) == 5

    status = await cluster.sync_now("vault-b")
    assert status["secretsSynced"] == 5
    after = {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets(selector)
    }
    assert after == before

    seed(openbao, prefix, {"svc3": {"token": "t-3-rotated"}})
    await cluster.sync_now("vault-b")
    changed = {s["metadata"]["name"]: s for s in await cluster.secrets(selector)}
    moved = sorted(n for n, s in changed.items() if s["metadata"]["resourceVersion"] != before[n])
    assert moved == ["external-vault-svc3"]
    assert decoded(changed["external-vault-svc3"]) == {"token": "t-3-rotated"}


async def test_approle_auth_syncs(cluster: Cluster, openbao: OpenBaoServer) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"cfg": {"mode": "approle"}})
    mount = f"approle-{prefix}"
    openbao.enable_approle(mount)
    policy = 'path "secret/*" { capabilities = ["read", "list"] }'
    openbao.request("PUT", f"/v1/sys/policies/acl/{prefix}", {"policy": policy})
    openbao.request("POST", f"/v1/auth/{mount}/role/sync", {"token_policies": [prefix]})
    role_id = openbao.request("GET", f"/v1/auth/{mount}/role/sync/role-id")["data"]["role_id"]
    secret_id = openbao.request("POST", f"/v1/auth/{mount}/role/sync/secret-id")["data"][
        "secret_id"
    ]
    await cluster.put_credentials("infra-approle", {"role_id": role_id, "secret_id": secret_id})
    await cluster.create_backend(
        "vault-approle",
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "approle",
                "authMount": mount,
                "authConfigPath": "infra/approle",
            },
            "pathMapping": {"team/*": f"secret/data/{prefix}/*"},
            "mode": "sync",
            "syncInterval": "1m",
        },
    )
    status = await cluster.wait_status("vault-approle", healthy)
    assert status["secretsSynced"] == 1
    secret = await cluster.secret("team-cfg")
    assert secret is not None and decoded(secret) == {"mode": "approle"}


async def test_bad_token_is_an_error_and_writes_nothing(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"x": {"v": "1"}})
    await cluster.put_credentials("creds-vault-token", {"token": "wrong-token-canary"})
    await cluster.create_backend(
        "vault-bad",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault-token"},
            "pathMapping": {"external/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1m",
        },
    )
    status = await cluster.wait_status("vault-bad", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed"
    assert "wrong-token-canary" not in str(status)
    assert await cluster.secrets("federation.scaivault.io/backend=vault-bad") == []


async def test_proxy_mode_probes_and_writes_no_secret(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"x": {"v": "1"}})
    await cluster.put_credentials("creds-vault-token", {"token": openbao.root_token})
    await cluster.create_backend(
        "vault-proxy",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault-token"},
            "pathMapping": {"external/**": f"secret/data/{prefix}/**"},
            "mode": "proxy",
        },
    )
    status = await cluster.wait_status(
        "vault-proxy", lambda s: s.get("connection", {}).get("status") == "connected"
    )
    assert status["status"] == "healthy"
    assert status["connection"]["latencyMs"] >= 1
    assert await cluster.secrets("app.kubernetes.io/managed-by=scaivault-federation") == []
