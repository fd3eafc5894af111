"""A manual sync of some paths only, through the annotations, with the operator
running as its own process: only those Secrets change, at once, and the hourly
schedule stays where it was."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.models.resource import sync_paths_value

from .backend_calls import backend_calls, settled_calls
from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

REQUESTED = "federation.scaivault.io/sync-requested-at"
PATHS = "federation.scaivault.io/sync-paths"


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def versions(secrets: list[dict[str, Any]]) -> dict[str, str]:
    return {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in secrets}


async def test_annotated_paths_sync_alone_and_keep_the_schedule(
    cluster: Cluster, openbao: OpenBaoServer, operator_metrics_port: int
) -> None:
    prefix = f"pp-{uuid.uuid4().hex[:8]}"
    for name in ("a", "b", "c"):
        openbao.request("POST", f"/v1/secret/data/{prefix}/{name}", {"data": {"v": "1"}})
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.create_backend(
        "vault-pp",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    first = await cluster.wait_status("vault-pp", lambda s: s.get("secretsSynced") == 3)
    selector = "federation.scaivault.io/backend=vault-pp"
    before = versions(await cluster.secrets(selector))
    calls = await backend_calls(operator_metrics_port, "hashicorp-vault")

    openbao.request("POST", f"/v1/secret/data/{prefix}/a", {"data": {"v": "2"}})
    openbao.request("POST", f"/v1/secret/data/{prefix}/b", {"data": {"v": "2"}})
    openbao.request("DELETE", f"/v1/secret/metadata/{prefix}/c")
    stamp = datetime.now(UTC).isoformat()
    patch = {
        "metadata": {"annotations": {REQUESTED: stamp, PATHS: sync_paths_value(stamp, ["app/a"])}}
    }
    started = time.monotonic()
    await cluster.kube.merge_patch(cluster.backend_url("vault-pp"), patch)

    async def a_updated() -> dict[str, Any] | None:
        secret = await cluster.secret("app-a")
        return secret if secret is not None and decoded(secret) == {"v": "2"} else None

    await eventually(a_updated, timeout=10, what="app/a to be synced")
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    status = await cluster.wait_status("vault-pp", lambda s: s["lastSync"] > first["lastSync"])
    after = await cluster.secrets(selector)
    moved = sorted(n for n, rv in versions(after).items() if rv != before[n])
    assert moved == ["app-a"]  # app/b changed remotely and app/c is gone: untouched
    c = next(s for s in after if s["metadata"]["name"] == "app-c")
    assert "federation.scaivault.io/orphaned-at" not in c["metadata"]["annotations"]
    # the paths whose Secret holds the value, the others as the last sync left them:
    # app/c is not looked up, so its removal waits for the next full sync
    assert status["secretsSynced"] == 3
    # one Vault request: the path's value, which tells it exists; no listing, no probe
    asked = await settled_calls(operator_metrics_port, "hashicorp-vault", calls, "read")
    assert asked == {("read", "ok"): 1}
    # the hourly sync did not move (the status gives it to the second)
    moved_by = parse(status["nextSyncAt"]) - parse(first["nextSyncAt"])
    assert abs(moved_by.total_seconds()) <= 1, moved_by

    # the same annotations set by a tool that only bumps the stamp: a full sync
    full = await cluster.sync_now("vault-pp")
    assert full["secretsSynced"] == 2
    final = {s["metadata"]["name"]: s for s in await cluster.secrets(selector)}
    assert decoded(final["app-b"]) == {"v": "2"}
    assert "federation.scaivault.io/orphaned-at" in final["app-c"]["metadata"]["annotations"]
