"""Several operator processes against one apiserver: exactly one acts on each
backend, FederationBackend or ClusterFederationBackend, and when it is killed
(SIGKILL, no clean stop) another takes over within the lease period. Without
sharding one process acts on all; with sharding the backends are spread over
the live processes.

These run on a control plane of their own, so the session's operator (which
acts on every namespace) is not a fourth replica.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.runner import STARTED

from .fleet import CLUSTER_BACKENDS, Fleet
from .helpers import Cluster, eventually

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 12.0
SYSTEM = "scaivault-system"
SYNCED = re.compile(r"synced (\S+?)/(\S+?): ")
#: a ClusterFederationBackend's sync: its name alone
CLUSTER_SYNCED = re.compile(r"synced ([a-z0-9.-]+): ")


@pytest.fixture(scope="module")
def own_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("replicas-cp")) as cp:
        install_crd(cp)
        ensure_namespace(cp, SYSTEM)
        yield cp


@pytest.fixture
async def plane_kube(own_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(own_plane.kubeconfig))
    yield client
    await client.close()


def _started(log: Path) -> bool:
    return STARTED in log.read_text()


class Replicas:
    def __init__(self, cp: ControlPlane, logs: Path, group: str, sharded: bool) -> None:
        self.cp = cp
        self.logs = logs
        self.group = group
        self.sharded = sharded
        self.procs: list[ManagedProcess] = []

    def start(self, count: int) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cp.kubeconfig),
            "SCAIVAULT_OPERATOR_NAMESPACE": SYSTEM,
            "SCAIVAULT_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
        }
        for index in range(count):
            argv = [
                *(sys.executable, "-m", "scaivault_federation.cli", "run"),
                *("--peering", self.group, "--metrics-port", "0"),
                *(["--sharding"] if self.sharded else []),
            ]
            proc = ManagedProcess(
                f"replica-{index}",
                argv,
                self.logs / f"replica-{index}.log",
                env={**env, "HOSTNAME": f"replica-{index}"},
            )
            proc.start()
            self.procs.append(proc)
        for proc in self.procs:
            proc.wait_until(
                functools.partial(_started, proc.log_path), timeout=60, what=f"{proc.name} to start"
            )

    def synced_by(self, namespace: str) -> dict[str, set[str]]:
        """Backend name -> the replicas that logged a sync of it."""
        found: dict[str, set[str]] = {}
        for proc in self.procs:
            for ns, name in SYNCED.findall(proc.log_path.read_text()):
                if ns == namespace:
                    found.setdefault(name, set()).add(proc.name)
        return found

    def cluster_synced_by(self) -> dict[str, set[str]]:
        """Cluster backend name -> the replicas that logged a sync of it."""
        found: dict[str, set[str]] = {}
        for proc in self.procs:
            for name in CLUSTER_SYNCED.findall(proc.log_path.read_text()):
                found.setdefault(name, set()).add(proc.name)
        return found

    def kill(self, proc: ManagedProcess) -> None:
        assert proc.pid is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.stop()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def replicas_factory(own_plane: ControlPlane, tmp_path: Path) -> Iterator[list[Replicas]]:
    made: list[Replicas] = []
    yield made
    for group in made:
        group.stop()


async def _setup(kube: KubeClient, bao: OpenBaoServer, count: int) -> tuple[Cluster, list[str]]:
    namespace = f"ha-{uuid.uuid4().hex[:6]}"
    await kube.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    cluster = Cluster(kube, namespace)
    prefix = f"ha-{uuid.uuid4().hex[:6]}"
    bao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "x"}})
    await cluster.put_credentials("creds-vault", {"token": bao.root_token})
    names = [f"b{i:03d}" for i in range(count)]

    async def create(name: str) -> None:
        await cluster.create_backend(
            name,
            {
                "type": "hashicorp-vault",
                "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
                "pathMapping": {f"{name}/**": f"secret/data/{prefix}/**"},
                "mode": "sync",
                "syncInterval": "1h",
            },
        )

    for start in range(0, count, 50):
        await asyncio.gather(*(create(n) for n in names[start : start + 50]))
    return cluster, names


async def _all_synced(cluster: Cluster, names: list[str], timeout: float) -> None:
    async def done() -> bool:
        items = (await cluster.kube.get(cluster.backend_url())).get("items", [])
        synced = {i["metadata"]["name"] for i in items if (i.get("status") or {}).get("lastSync")}
        return set(names) <= synced

    await eventually(done, timeout=timeout, what="every backend to sync")


@dataclass
class Watched:
    """The backends of one kind whose syncs a test follows in the replicas' logs."""

    noun: str
    #: backend name -> the replicas that logged a sync of it
    synced_by: Callable[[], dict[str, set[str]]]
    #: every backend of the kind: its name and status
    items: Callable[[], Awaitable[list[dict[str, Any]]]]
    #: sets a backend's manual sync annotation; its lastSync before it
    request_sync: Callable[[str], Awaitable[str]]

    async def last_syncs(self) -> dict[str, str]:
        return {
            i["metadata"]["name"]: str((i.get("status") or {}).get("lastSync", ""))
            for i in await self.items()
        }

    async def status(self, name: str) -> dict[str, Any]:
        found = [i for i in await self.items() if i["metadata"]["name"] == name]
        return dict(found[0].get("status") or {}) if found else {}


def namespaced(group: Replicas, cluster: Cluster) -> Watched:
    async def items() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = (await cluster.kube.get(cluster.backend_url()))["items"]
        return listed

    return Watched(
        "backends", lambda: group.synced_by(cluster.namespace), items, cluster.request_sync
    )


def cluster_scoped(group: Replicas, fleet: Fleet, names: list[str]) -> Watched:
    async def items() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = (await fleet.kube.get(CLUSTER_BACKENDS))["items"]
        return [i for i in listed if i["metadata"]["name"] in names]

    def synced_by() -> dict[str, set[str]]:
        return {n: actors for n, actors in group.cluster_synced_by().items() if n in names}

    return Watched("cluster backends", synced_by, items, fleet.request_sync)


async def _one_acts_then_another_takes_over(group: Replicas, watched: Watched, name: str) -> None:
    """Exactly one replica acts on every backend; killed, another takes over ``name``
    within the lease period, and exactly one of the survivors acts."""
    await asyncio.sleep(2)  # any second replica acting would have logged by now
    by = watched.synced_by()
    actors = set().union(*by.values())
    assert len(actors) == 1, by  # exactly one acts, on every backend
    (active,) = actors
    victim = next(p for p in group.procs if p.name == active)

    group.kill(victim)
    killed_at = time.monotonic()
    before = await watched.request_sync(name)

    async def resynced() -> dict[str, Any] | None:
        status = await watched.status(name)
        return status if str(status.get("lastSync", "")) > before else None

    status = await eventually(resynced, timeout=LEASE_SECONDS + 15, what="the takeover")
    took = time.monotonic() - killed_at
    print(f"\n{watched.noun}: takeover after SIGKILL: {took:.1f} s (lease {LEASE_SECONDS:.0f} s)")
    assert status["status"] == "healthy"
    assert took <= LEASE_SECONDS + 3
    after = watched.synced_by()
    assert after[name] - {active}, after  # another replica synced it
    # exactly one of the survivors acts
    newly = set().union(*after.values()) - {active}
    assert len(newly) == 1, after


async def _split_then_handed_over(group: Replicas, watched: Watched, names: list[str]) -> None:
    """Each backend is synced by exactly one of the sharded replicas, every replica has
    some; a killed one's are handed over, and the others' stay where they were."""
    await asyncio.sleep(2)
    by = watched.synced_by()
    assert set(by) == set(names)
    shared = {n: actors for n, actors in by.items() if len(actors) != 1}
    assert not shared, shared  # each backend synced by exactly one process
    shares = {p.name: sum(1 for a in by.values() if p.name in a) for p in group.procs}
    print(f"\n{watched.noun} per replica: {shares}")
    assert all(count > 0 for count in shares.values()), shares

    victim = group.procs[0]
    orphaned = sorted(n for n, actors in by.items() if victim.name in actors)
    group.kill(victim)
    killed_at = time.monotonic()
    befores = {n: await watched.request_sync(n) for n in orphaned}

    async def handed_over() -> bool:
        last = await watched.last_syncs()
        return all(last[n] > befores[n] for n in orphaned)

    await eventually(handed_over, timeout=LEASE_SECONDS + 30, what="the dead replica's backends")
    took = time.monotonic() - killed_at
    print(f"{len(orphaned)} {watched.noun} of the killed replica resynced after {took:.1f} s")
    after = watched.synced_by()
    for name in orphaned:
        assert after[name] - {victim.name}, (name, after[name])
    # the others' backends stayed where they were
    for name, actors in by.items():
        if victim.name not in actors:
            assert after[name] == actors, (name, after[name])


async def test_one_replica_acts_and_another_takes_over_when_it_is_killed(
    own_plane: ControlPlane,
    plane_kube: KubeClient,
    openbao: OpenBaoServer,
    replicas_factory: list[Replicas],
    tmp_path: Path,
) -> None:
    group = Replicas(own_plane, tmp_path, f"ha-{uuid.uuid4().hex[:6]}", sharded=False)
    replicas_factory.append(group)
    group.start(3)
    cluster, names = await _setup(plane_kube, openbao, 3)
    await _all_synced(cluster, names, timeout=60)
    await _one_acts_then_another_takes_over(group, namespaced(group, cluster), names[0])


async def test_sharded_replicas_split_the_backends_and_hand_over_a_dead_ones(
    own_plane: ControlPlane,
    plane_kube: KubeClient,
    openbao: OpenBaoServer,
    replicas_factory: list[Replicas],
    tmp_path: Path,
) -> None:
    group = Replicas(own_plane, tmp_path, f"sh-{uuid.uuid4().hex[:6]}", sharded=True)
    replicas_factory.append(group)
    group.start(3)
    await asyncio.sleep(3)  # the three see each other before the backends appear
    cluster, names = await _setup(plane_kube, openbao, 300)
    await _all_synced(cluster, names, timeout=180)
    await _split_then_handed_over(group, namespaced(group, cluster), names)


async def _cluster_backends(fleet: Fleet, bao: OpenBaoServer, count: int) -> list[str]:
    """``count`` Vault ClusterFederationBackends selecting the test's namespaces, each
    mapping a path of its own to one remote secret."""
    prefix = f"hac-{fleet.id}"
    bao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "x"}})
    credentials = await fleet.credentials(bao.root_token)
    names = [f"c{i:03d}-{fleet.id}" for i in range(count)]
    for name in names:
        await fleet.post(
            name,
            {
                "type": "hashicorp-vault",
                "config": {"endpoint": bao.address, "authConfigPath": credentials},
                "pathMapping": {f"{name}/**": f"secret/data/{prefix}/**"},
                "mode": "sync",
                "syncInterval": "1h",
                "deletionPolicy": "Delete",
            },
        )
    return names


async def _cluster_synced(watched: Watched, names: list[str], timeout: float) -> None:
    async def done() -> bool:
        last = await watched.last_syncs()
        return all(last.get(n) for n in names)

    await eventually(done, timeout=timeout, what="every cluster backend to sync")


async def test_a_cluster_backend_is_taken_over_when_its_replica_is_killed(
    own_plane: ControlPlane,
    plane_kube: KubeClient,
    openbao: OpenBaoServer,
    replicas_factory: list[Replicas],
    tmp_path: Path,
) -> None:
    group = Replicas(own_plane, tmp_path, f"hac-{uuid.uuid4().hex[:6]}", sharded=False)
    replicas_factory.append(group)
    group.start(3)
    fleet = Fleet(plane_kube, SYSTEM)
    try:
        a, b = [await fleet.namespace(selected=True) for _ in range(2)]
        names = await _cluster_backends(fleet, openbao, 1)
        await fleet.wait_namespaces(names[0], a, b)
        await _one_acts_then_another_takes_over(
            group, cluster_scoped(group, fleet, names), names[0]
        )
        # the survivor tears it down when it is deleted (deletionPolicy: Delete)
        secret = f"{names[0]}-db"
        assert await a.secret(secret) is not None and await b.secret(secret) is not None
        await fleet.delete(names[0])
        assert await a.secret(secret) is None and await b.secret(secret) is None
    finally:
        await fleet.cleanup()


async def test_sharded_replicas_split_cluster_backends_and_hand_over_a_dead_ones(
    own_plane: ControlPlane,
    plane_kube: KubeClient,
    openbao: OpenBaoServer,
    replicas_factory: list[Replicas],
    tmp_path: Path,
) -> None:
    group = Replicas(own_plane, tmp_path, f"shc-{uuid.uuid4().hex[:6]}", sharded=True)
    replicas_factory.append(group)
    group.start(3)
    await asyncio.sleep(3)  # the three see each other before the backends appear
    fleet = Fleet(plane_kube, SYSTEM)
    names: list[str] = []
    try:
        await fleet.namespace(selected=True)
        names = await _cluster_backends(fleet, openbao, 24)
        watched = cluster_scoped(group, fleet, names)
        await _cluster_synced(watched, names, timeout=120)
        await _split_then_handed_over(group, watched, names)
    finally:
        for name in names:
            await fleet.kube.delete(f"{CLUSTER_BACKENDS}/{name}")
        await fleet.cleanup()
