"""Workers wake on what they depend on, not at the next interval (``syncInterval:
1h`` here): a credentials Secret created after the backend failed for want of
it, a managed Secret deleted or edited by hand."""

from __future__ import annotations

import time
import uuid

import pytest

from scaivault_devenv.openbao import OpenBaoServer

from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e


def _spec(bao: OpenBaoServer, prefix: str) -> dict[str, object]:
    return {
        "type": "hashicorp-vault",
        "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
        "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "1h",
    }


def _seed(bao: OpenBaoServer) -> str:
    prefix = f"wake-{uuid.uuid4().hex[:8]}"
    bao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "remote-1"}})
    return prefix


async def test_a_backend_waiting_for_its_credentials_recovers_when_they_appear(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    await cluster.create_backend("late-creds", _spec(openbao, _seed(openbao)))
    failing = await cluster.wait_status("late-creds", lambda s: s.get("status") == "error")
    ready = next(c for c in failing["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    # let the backoff grow past the first retries, so only a wake-up can be this fast
    await eventually(
        lambda: _later_than(cluster, "late-creds", 15),
        timeout=60,
        what="a retry due later than 15 s",
    )
    created = time.monotonic()
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.wait_status("late-creds", lambda s: s.get("status") == "healthy", timeout=10)
    print(f"\nhealthy {time.monotonic() - created:.1f} s after its credentials Secret appeared")
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"pw": "remote-1"}


async def _later_than(cluster: Cluster, name: str, seconds: float) -> bool:
    from datetime import UTC, datetime

    status = await cluster.status(name)
    due = status.get("nextSyncAt")
    if not due:
        return False
    at = datetime.fromisoformat(str(due).replace("Z", "+00:00"))
    return (at - datetime.now(UTC)).total_seconds() > seconds


async def test_a_managed_secret_deleted_by_hand_is_back_within_seconds(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.create_backend("restore", _spec(openbao, _seed(openbao)))
    await cluster.wait_status("restore", lambda s: s.get("lastSync") is not None)
    assert await cluster.secret("app-db") is not None
    deleted = time.monotonic()
    await cluster.kube.delete(f"/api/v1/namespaces/{cluster.namespace}/secrets/app-db")

    async def back() -> bool:
        secret = await cluster.secret("app-db")
        return secret is not None and decoded(secret) == {"pw": "remote-1"}

    await eventually(back, timeout=10, what="the deleted Secret to be restored")
    print(f"\nrestored {time.monotonic() - deleted:.1f} s after it was deleted")


async def test_a_hand_edit_is_reported_within_seconds(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    import base64

    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.create_backend("edited", _spec(openbao, _seed(openbao)))
    await cluster.wait_status("edited", lambda s: s.get("lastSync") is not None)
    patch = {"data": {"pw": base64.b64encode(b"by-hand").decode()}}
    await cluster.kube.merge_patch(f"/api/v1/namespaces/{cluster.namespace}/secrets/app-db", patch)
    status = await cluster.wait_status("edited", lambda s: s.get("conflictCount") == 1, timeout=10)
    assert status["conflicts"][0]["reason"] == "ManagedSecretEdited"
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"pw": "by-hand"}  # local value kept
