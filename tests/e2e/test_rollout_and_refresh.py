"""rolloutRestartTargets and target.refreshPolicy against the real apiserver and OpenBao:
a Deployment's pod template is patched once per real change, never on a no-op sync or an
operator restart, once for changes inside minInterval; OnChange syncs only when asked."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.runner import STARTED

from .helpers import Cluster, decoded, deployment, eventually

pytestmark = pytest.mark.e2e

RESTARTED = "federation.scaivault.io/restarted-at"


def seed(openbao: OpenBaoServer, path: str, data: dict[str, str]) -> None:
    openbao.request("POST", f"/v1/secret/data/{path}", {"data": data})


class Workloads:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.base = f"/apis/apps/v1/namespaces/{cluster.namespace}/deployments"

    async def create(self, name: str, labels: dict[str, str]) -> None:
        await self.cluster.kube.post(self.base, deployment(name, labels))

    async def generation(self, name: str) -> int:
        """Bumped by the apiserver on every change of the spec (the pod template)."""
        return int((await self.cluster.kube.get(f"{self.base}/{name}"))["metadata"]["generation"])

    async def restarted_at(self, name: str) -> str | None:
        obj = await self.cluster.kube.get(f"{self.base}/{name}")
        annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
        value = annotations.get(RESTARTED)
        return None if value is None else str(value)


async def restart_operator(operator: ManagedProcess, operator_log: Path) -> None:
    ready_line = STARTED
    started = (await asyncio.to_thread(operator_log.read_text)).count(ready_line)
    operator.stop()
    operator.start()
    await asyncio.to_thread(
        operator.wait_until,
        lambda: operator_log.read_text().count(ready_line) > started,
        60,
        "the operator to restart",
    )


async def restart_metric(port: int, namespace: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        ours = f'namespace="{namespace}"' in line and 'result="ok"' in line
        if line.startswith("scaivault_rollout_restarts_total{") and ours:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_workloads_restart_once_per_real_change(
    cluster: Cluster,
    openbao: OpenBaoServer,
    operator: ManagedProcess,
    operator_log: Path,
    operator_metrics_port: int,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, f"{prefix}/db", {"password": "one"})
    workloads = Workloads(cluster)
    await workloads.create("api", {"app": "api"})
    await workloads.create("web", {"app": "web"})
    await workloads.create("other", {"app": "other"})
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.create_backend(
        "restarts",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"app/*": f"secret/data/{prefix}/*"},
            "mode": "sync",
            "syncInterval": "10m",
            "rolloutRestartTargets": [
                {"kind": "Deployment", "name": "api"},
                {
                    "kind": "Deployment",
                    "selector": {"matchLabels": {"app": "web"}},
                    "minInterval": "6s",
                },
            ],
        },
    )
    await cluster.wait_status("restarts", lambda s: s.get("status") == "healthy")
    assert (await workloads.generation("api"), await workloads.generation("web")) == (1, 1)

    # a sync with nothing changed restarts nothing
    await cluster.sync_now("restarts")
    assert (await workloads.generation("api"), await workloads.generation("web")) == (1, 1)

    # a real change: the named Deployment is patched once at once
    seed(openbao, f"{prefix}/db", {"password": "two"})
    await cluster.sync_now("restarts")
    await eventually(lambda: _is(workloads.generation("api"), 2), 10, "api to be restarted")
    assert await workloads.restarted_at("api") is not None
    assert await workloads.generation("other") == 1

    # a second change inside web's minInterval: api twice in all, web once, after both
    seed(openbao, f"{prefix}/db", {"password": "three"})
    await cluster.sync_now("restarts")
    await eventually(lambda: _is(workloads.generation("api"), 3), 10, "api to be restarted")
    assert await workloads.generation("web") == 1  # still inside its minInterval
    await eventually(lambda: _is(workloads.generation("web"), 2), 20, "web to be restarted")
    await asyncio.sleep(7)
    assert (await workloads.generation("api"), await workloads.generation("web")) == (3, 2)
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"password": "three"}

    events = [e for e in await cluster.events() if e.get("reason") == "RolloutRestarted"]
    assert sorted(e["message"].split(" restarted")[0] for e in events) == [
        "Deployment api",
        "Deployment api",
        "Deployment web",
    ]
    assert await restart_metric(operator_metrics_port, cluster.namespace) == 3

    # an operator restart restarts nothing, nor does the sync after it
    await restart_operator(operator, operator_log)
    await cluster.sync_now("restarts")
    await asyncio.sleep(2)
    assert (await workloads.generation("api"), await workloads.generation("web")) == (3, 2)


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def test_on_change_syncs_only_on_a_spec_change_or_a_trigger(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed(openbao, f"{prefix}/db", {"password": "one"})
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.create_backend(
        "quiet",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"app/*": f"secret/data/{prefix}/*"},
            "mode": "sync",
            "syncInterval": "10s",
            "target": {"refreshPolicy": "OnChange"},
        },
    )
    first = await cluster.wait_status("quiet", lambda s: s.get("status") == "healthy")
    seed(openbao, f"{prefix}/db", {"password": "two"})
    # more than one interval later: probed (the connection was checked), not synced
    probed = await cluster.wait_status(
        "quiet",
        lambda s: s["connection"]["checkedAt"] > first["connection"]["checkedAt"],
        timeout=30,
    )
    assert probed["lastSync"] == first["lastSync"]
    assert probed["status"] == "healthy"
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"password": "one"}

    await cluster.sync_now("quiet")  # a trigger syncs
    secret = await cluster.secret("app-db")
    assert secret is not None and decoded(secret) == {"password": "two"}

    seed(openbao, f"{prefix}/db", {"password": "three"})
    patch = {"spec": {"target": {"labels": {"team": "a"}}}}  # a spec change syncs
    await cluster.kube.merge_patch(cluster.backend_url("quiet"), patch)

    async def three() -> bool:
        found = await cluster.secret("app-db")
        return found is not None and decoded(found) == {"password": "three"}

    await eventually(three, 20, "the spec change to sync")
