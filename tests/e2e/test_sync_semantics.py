"""Sync semantics end to end: conflicts, drift, manual trigger, suspend, failures, prune,
deletion policy, and no secret value anywhere but in Secrets."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.binaries import find_binaries
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.runner import STARTED

from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

SECRETS_ALL = "app.kubernetes.io/managed-by=scaivault-federation"


def seed(bao: OpenBaoServer, prefix: str, items: dict[str, dict[str, str]]) -> None:
    for path, data in items.items():
        bao.request("POST", f"/v1/secret/data/{prefix}/{path}", {"data": data})


def spec(bao: OpenBaoServer, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "hashicorp-vault",
        "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
        "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }


async def start(
    cluster: Cluster, bao: OpenBaoServer, name: str, items: dict[str, dict[str, str]], **extra: Any
) -> str:
    prefix = f"sem-{uuid.uuid4().hex[:8]}"
    seed(bao, prefix, items)
    if await cluster.secret("creds-vault") is None:
        await cluster.put_credentials("creds-vault", {"token": bao.root_token})
    await cluster.create_backend(name, spec(bao, prefix, **extra))
    await cluster.wait_status(name, lambda s: s.get("lastSync") is not None)
    return prefix


def conflict_paths(status: dict[str, Any]) -> dict[str, str]:
    return {c["path"]: c["reason"] for c in status.get("conflicts") or []}


async def edit_secret(cluster: Cluster, name: str, data: dict[str, str]) -> None:
    patch = {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    await cluster.kube.merge_patch(f"/api/v1/namespaces/{cluster.namespace}/secrets/{name}", patch)


async def event_reasons(cluster: Cluster) -> list[str]:
    return [e["reason"] for e in await cluster.events()]


@pytest.fixture
def spare_bao(tmp_path: Path) -> Iterator[OpenBaoServer]:
    """An OpenBao server of this test's own, which the test may stop and restart."""
    with OpenBaoServer(tmp_path / "spare-bao") as server:
        yield server


async def test_hand_edit_is_drift_reported_then_cleared(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = await start(cluster, openbao, "drift", {"db": {"pw": "remote-1"}})
    await edit_secret(cluster, "app-db", {"pw": "edited-by-hand"})
    status = await cluster.sync_now("drift")
    assert conflict_paths(status) == {"app/db": "ManagedSecretEdited"}
    assert status["conflictCount"] == 1
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"pw": "edited-by-hand"}  # local kept
    assert "ConflictDetected" in await event_reasons(cluster)

    # values agree again (remote changed to the local value): the conflict clears
    seed(openbao, prefix, {"db": {"pw": "edited-by-hand"}})
    status = await cluster.sync_now("drift")
    assert conflict_paths(status) == {} and status["conflictCount"] == 0
    assert status["status"] == "healthy"


async def test_unmanaged_secret_conflict_report_then_overwrite(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    await cluster.put_secret("app-token", {"value": "someone-elses"})
    await start(cluster, openbao, "takeover", {"token": {"value": "remote"}, "other": {"v": "1"}})
    status = await cluster.wait_status("takeover", lambda s: s.get("conflictCount") == 1)
    assert conflict_paths(status) == {"app/token": "UnmanagedSecretDiffers"}
    assert status["status"] == "healthy" and status["secretsSynced"] == 1
    for conflict in status["conflicts"]:
        assert set(conflict) == {"path", "remotePath", "reason", "detectedAt"}
    unmanaged = await cluster.secret("app-token")
    assert unmanaged is not None and decoded(unmanaged) == {"value": "someone-elses"}
    assert "app.kubernetes.io/managed-by" not in (unmanaged["metadata"].get("labels") or {})

    await cluster.kube.merge_patch(
        cluster.backend_url("takeover"), {"spec": {"conflictPolicy": "overwrite"}}
    )
    # overwrite alone takes over no Secret the backend did not write
    status = await cluster.sync_now("takeover")
    assert conflict_paths(status) == {"app/token": "UnmanagedSecretNotOptedIn"}
    kept = await cluster.secret("app-token")
    assert kept == unmanaged

    # the Secret opts in
    await cluster.kube.merge_patch(
        f"/api/v1/namespaces/{cluster.namespace}/secrets/app-token",
        {"metadata": {"labels": {"federation.scaivault.io/allow-overwrite": "true"}}},
    )
    await cluster.sync_now("takeover")
    status = await cluster.wait_status("takeover", lambda s: s.get("conflictCount") == 0)
    assert status["secretsSynced"] == 2
    taken = await cluster.secret("app-token")
    assert taken is not None and decoded(taken) == {"value": "remote"}
    assert taken["metadata"]["labels"]["federation.scaivault.io/backend"] == "takeover"
    assert "SecretOverwritten" in await event_reasons(cluster)


async def test_two_backends_claiming_one_path(cluster: Cluster, openbao: OpenBaoServer) -> None:
    prefix = await start(cluster, openbao, "first", {"shared": {"v": "a"}})
    await cluster.create_backend("second", spec(openbao, prefix))
    status = await cluster.wait_status("second", lambda s: s.get("conflictCount") == 1)
    assert conflict_paths(status) == {"app/shared": "ClaimedByOtherBackend"}
    secret = await cluster.secret("app-shared")
    assert secret is not None
    assert secret["metadata"]["labels"]["federation.scaivault.io/backend"] == "first"


async def test_manual_trigger_syncs_within_seconds(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = await start(cluster, openbao, "trigger", {"k": {"v": "1"}})
    seed(openbao, prefix, {"k": {"v": "2"}})
    started = time.monotonic()
    await cluster.request_sync("trigger")

    async def updated() -> bool:
        secret = await cluster.secret("app-k")
        return secret is not None and decoded(secret) == {"v": "2"}

    await eventually(updated, timeout=10, what="the triggered sync")
    latency = time.monotonic() - started
    print(f"manual trigger -> Secret updated in {latency:.2f}s")
    assert latency < 5


async def test_suspend_stops_syncing_and_says_so(cluster: Cluster, openbao: OpenBaoServer) -> None:
    prefix = await start(cluster, openbao, "pause", {"k": {"v": "1"}})
    await cluster.kube.merge_patch(cluster.backend_url("pause"), {"spec": {"suspend": True}})
    status = await cluster.wait_status("pause", lambda s: s.get("message") == "sync suspended")
    synced = next(c for c in status["conditions"] if c["type"] == "Synced")
    assert synced["status"] == "False" and synced["reason"] == "Suspended"
    seed(openbao, prefix, {"k": {"v": "2"}})
    await cluster.request_sync("pause")
    await asyncio.sleep(3)
    secret = await cluster.secret("app-k")
    assert secret is not None and decoded(secret) == {"v": "1"}


async def test_backend_outage_keeps_secrets_byte_equal_and_recovers(
    cluster: Cluster, spare_bao: OpenBaoServer
) -> None:
    items = {f"s{i}": {"v": f"value-{i}"} for i in range(3)}
    prefix = await start(cluster, spare_bao, "outage", items, prune=True)
    await cluster.wait_status("outage", lambda s: s.get("secretsSynced") == 3)
    before = {s["metadata"]["name"]: s for s in await cluster.secrets(SECRETS_ALL)}

    spare_bao.stop()
    status = await cluster.sync_now_failing("outage")
    assert status["status"] == "degraded"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "BackendUnavailable"
    assert status["connection"]["status"] == "disconnected"
    assert status["secretsSynced"] == 3  # the last good figure stays
    # the first retry is due after the shortest backoff (5 s, ±20 %), not the 10m interval
    checked = datetime.fromisoformat(status["connection"]["checkedAt"])
    retry = datetime.fromisoformat(status["nextSyncAt"])
    assert retry - checked <= timedelta(seconds=8)
    after = {s["metadata"]["name"]: s for s in await cluster.secrets(SECRETS_ALL)}
    assert after == before  # byte for byte, same resourceVersions, even with prune on
    assert "BackendUnavailable" in await event_reasons(cluster)

    spare_bao.start()
    seed(spare_bao, prefix, items)
    status = await cluster.sync_now("outage")
    assert status["status"] == "healthy"
    assert status["connection"]["status"] == "connected"
    assert "Recovered" in await event_reasons(cluster)


async def test_a_bad_item_fails_only_its_path(cluster: Cluster, openbao: OpenBaoServer) -> None:
    await start(cluster, openbao, "baditem", {"good": {"v": "1"}, "bad": {"not a key!": "x"}})
    status = await cluster.wait_status("baditem", lambda s: s.get("status") == "degraded")
    assert "app/bad" in status["message"]
    assert status["secretsSynced"] == 1
    good = await cluster.secret("app-good")
    assert good is not None and decoded(good) == {"v": "1"}
    assert await cluster.secret("app-bad") is None
    synced = next(c for c in status["conditions"] if c["type"] == "Synced")
    assert synced["reason"] == "PartialSync"


@pytest.mark.parametrize("prune", [False, True])
async def test_remote_deletion_orphans_or_prunes(
    cluster: Cluster, openbao: OpenBaoServer, prune: bool
) -> None:
    prefix = await start(
        cluster, openbao, "prune", {"keep": {"v": "1"}, "gone": {"v": "2"}}, prune=prune
    )
    await cluster.wait_status("prune", lambda s: s.get("secretsSynced") == 2)
    openbao.request("DELETE", f"/v1/secret/metadata/{prefix}/gone")
    await cluster.sync_now("prune")
    gone = await cluster.secret("app-gone")
    if prune:
        assert gone is None
    else:
        assert gone is not None and decoded(gone) == {"v": "2"}
        assert "federation.scaivault.io/orphaned-at" in gone["metadata"]["annotations"]
    assert await cluster.secret("app-keep") is not None


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
async def test_deletion_policy(cluster: Cluster, openbao: OpenBaoServer, policy: str) -> None:
    await start(cluster, openbao, "bye", {"a": {"v": "1"}, "b": {"v": "2"}}, deletionPolicy=policy)
    await cluster.wait_status("bye", lambda s: s.get("secretsSynced") == 2)
    cr = await cluster.get_backend("bye")
    assert "federation.scaivault.io/finalizer" in cr["metadata"]["finalizers"]
    await cluster.kube.delete(cluster.backend_url("bye"))

    async def gone() -> bool:
        return not any(
            b["metadata"]["name"] == "bye"
            for b in (await cluster.kube.get(cluster.backend_url())).get("items", [])
        )

    await eventually(gone, what="the CR to be deleted")
    remaining = {s["metadata"]["name"]: s for s in await cluster.secrets()}
    if policy == "Delete":
        assert "app-a" not in remaining and "app-b" not in remaining
    else:
        kept = remaining["app-a"]
        assert decoded(kept) == {"v": "1"}
        assert "app.kubernetes.io/managed-by" not in (kept["metadata"].get("labels") or {})
        assert kept["metadata"]["annotations"]["federation.scaivault.io/path"] == "app/a"


async def test_no_secret_value_or_credential_leaks(
    cluster: Cluster,
    spare_bao: OpenBaoServer,
    operator_log: Path,
    operator_metrics_port: int,
) -> None:
    value_canary = f"canary-value-{uuid.uuid4().hex}"
    cred_canary = f"canary-cred-{uuid.uuid4().hex}"
    prefix = f"leak-{uuid.uuid4().hex[:8]}"
    seed(spare_bao, prefix, {"db": {"pw": value_canary}, "bad": {"bad key": value_canary}})
    await cluster.put_credentials("creds-vault", {"token": spare_bao.root_token})
    await cluster.put_credentials("creds-wrong", {"token": cred_canary})
    await cluster.create_backend("leak", spec(spare_bao, prefix))
    wrong = spec(spare_bao, prefix)
    wrong["config"]["authConfigPath"] = "creds/wrong"
    await cluster.create_backend("leak-wrong", wrong)
    await cluster.wait_status("leak", lambda s: s.get("status") == "degraded")
    await cluster.wait_status("leak-wrong", lambda s: s.get("status") == "error")
    # a conflict and an outage too
    await edit_secret(cluster, "app-db", {"pw": f"{value_canary}-edited"})
    await cluster.sync_now("leak")
    spare_bao.stop()
    await cluster.sync_now_failing("leak")

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{operator_metrics_port}/metrics") as resp,
    ):
        metrics = await resp.text()
    assert "scaivault_backend_calls_total" in metrics
    assert "scaivault_sync_duration_seconds" in metrics
    surfaces = {
        "operator log": await asyncio.to_thread(operator_log.read_text),
        "events": str(await cluster.events()),
        "status": str([await cluster.status("leak"), await cluster.status("leak-wrong")]),
        "metrics": metrics,
    }
    for where, text in surfaces.items():
        for canary in (value_canary, cred_canary):
            assert canary not in text, f"a canary leaked into the {where}"


async def test_kubectl_get_fedb_shows_status_and_conflicts(
    cluster: Cluster, spare_bao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    kubectl = find_binaries().kubectl
    assert kubectl is not None, "kubectl is built with the control plane"
    await cluster.put_secret("app-mine", {"value": "local"})
    await start(cluster, spare_bao, "shown", {"mine": {"value": "remote"}, "x": {"v": "1"}})
    await cluster.wait_status("shown", lambda s: s.get("conflictCount") == 1)

    async def row() -> list[str]:
        out = await asyncio.to_thread(
            subprocess.run,
            [
                str(kubectl),
                "--kubeconfig",
                str(control_plane.kubeconfig),
                "get",
                "fedb",
                "-n",
                cluster.namespace,
                "--no-headers",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    name, type_, mode, status, synced, conflicts, *_ = await row()
    assert (name, type_, mode, status, synced, conflicts) == (
        "shown",
        "hashicorp-vault",
        "sync",
        "healthy",
        "1",
        "1",
    )
    spare_bao.stop()
    await cluster.sync_now_failing("shown")
    assert (await row())[3] == "degraded"


async def test_operator_restart_keeps_schedules_and_honours_pending_triggers(
    cluster: Cluster, openbao: OpenBaoServer, operator: ManagedProcess, operator_log: Path
) -> None:
    prefix = await start(cluster, openbao, "steady", {"k": {"v": "1"}})
    await start(cluster, openbao, "asked", {"k2": {"v": "1"}})
    steady = await cluster.wait_status("steady", lambda s: s.get("status") == "healthy")
    asked = await cluster.wait_status("asked", lambda s: s.get("status") == "healthy")

    ready_line = STARTED
    started = (await asyncio.to_thread(operator_log.read_text)).count(ready_line)
    operator.stop()
    # a manual trigger while the operator is down must not be lost
    await cluster.request_sync("asked")
    seed(openbao, prefix, {"k": {"v": "2"}})
    operator.start()
    await asyncio.to_thread(
        operator.wait_until,
        lambda: operator_log.read_text().count(ready_line) > started,
        60,
        "the operator to restart",
    )
    await cluster.wait_status("asked", lambda s: s["lastSync"] > asked["lastSync"])
    await asyncio.sleep(3)
    # the healthy backend keeps its schedule (next sync in ~10m), so no resync storm
    assert (await cluster.status("steady"))["lastSync"] == steady["lastSync"]
    secret = await cluster.secret("app-k")
    assert secret is not None and decoded(secret) == {"v": "1"}
