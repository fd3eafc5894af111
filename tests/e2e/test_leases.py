"""FederationLease and FederationCertificate with the operator running.

A ``backendRef`` that names no Vault FederationBackend of the namespace is refused
with its reason, before anything is issued; the finalizer is added and a deletion
completes (on the session's operator).

Against OpenBao's database engine and a real PostgreSQL, on a control plane of their
own whose operator processes each watch one namespace (so that one is killed while
another keeps its lease): the credentials in the Secret log in, shaped by the
target's template; a 20 s / 60 s lease keeps a Secret whose credentials log in at
every second for three minutes while it is renewed and rotated (the replaced leases
revoked after their grace period, one rollout restart per rotation), and meanwhile a
SIGKILLed operator's successor and an HA replica taking over keep the lease without
asking for new credentials; deletion revokes (the PostgreSQL user is dropped) or
keeps it; no password appears in a log, an event, the status or the metrics.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao_engines import DatabaseRole
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.labels import MANAGED_BY
from tests.backends.harness_leases import LeaseServers

from .helpers import Cluster, decoded, eventually
from .leasing import (
    SYSTEM,
    Held,
    LoginWatch,
    Operator,
    Operators,
    create_lease,
    gone,
    held,
    lease_namespace,
    lease_status,
    lease_url,
    role_users,
    wait_lease,
)

pytestmark = pytest.mark.e2e

API = "/apis/federation.scaivault.io/v1alpha1"


def url(cluster: Cluster, plural: str, name: str | None = None) -> str:
    base = f"{API}/namespaces/{cluster.namespace}/{plural}"
    return f"{base}/{name}" if name else base


async def create(cluster: Cluster, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    await cluster.kube.post(url(cluster, kind.lower() + "s"), body)


async def ready_condition(cluster: Cluster, plural: str, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await cluster.kube.get(url(cluster, plural, name))
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    return await eventually(probe, 30, f"{name} to report Ready")


async def test_a_missing_or_foreign_backend_is_refused_and_deletion_completes(
    cluster: Cluster,
) -> None:
    await cluster.create_backend(
        "aws",
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1", "endpoint": "http://127.0.0.1:9"},
            "pathMapping": {"apps/**": "apps/**"},
            "mode": "proxy",
        },
    )
    await create(
        cluster, "FederationLease", "db", {"backendRef": "nowhere", "path": "database/creds/app"}
    )
    await create(
        cluster,
        "FederationCertificate",
        "web",
        {"backendRef": "aws", "path": "pki/issue/web", "commonName": "web.example"},
    )
    missing = await ready_condition(cluster, "federationleases", "db")
    assert missing["status"] == "False"
    assert missing["reason"] == "BackendNotUsable"
    assert "no FederationBackend 'nowhere'" in missing["message"]
    foreign = await ready_condition(cluster, "federationcertificates", "web")
    assert foreign["reason"] == "BackendNotUsable"
    assert "aws-secrets-manager" in foreign["message"]
    lease = await cluster.kube.get(url(cluster, "federationleases", "db"))
    assert "federation.scaivault.io/finalizer" in lease["metadata"]["finalizers"]
    events = [e for e in await cluster.events() if e["involvedObject"]["name"] == "db"]
    assert events and events[0]["involvedObject"]["kind"] == "FederationLease"
    assert not await cluster.secrets("app.kubernetes.io/managed-by=scaivault-federation")

    for plural, name in (("federationleases", "db"), ("federationcertificates", "web")):
        await cluster.kube.delete(url(cluster, plural, name))

        async def gone(plural: str = plural, name: str = name) -> bool | None:
            try:
                await cluster.kube.get(url(cluster, plural, name))
            except NotFoundError:
                return True
            return None

        await eventually(gone, 30, f"{name} to be deleted")


# -- against OpenBao's database engine and PostgreSQL -------------------------------------

#: how long the Secret of the steady lease is checked, once a second
STEADY_SECONDS = 180
RENEWALS = "scaivault_lease_renewals_total"
ROTATIONS = "scaivault_lease_rotations_total"


@pytest.fixture(scope="module")
def lease_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("leases-cp")) as cp:
        install_crd(cp)
        ensure_namespace(cp, SYSTEM)
        yield cp


@pytest.fixture(scope="module")
async def lease_kube(lease_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(lease_plane.kubeconfig))
    yield client
    await client.close()


@pytest.fixture(scope="module")
def operators(
    lease_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operators]:
    made = Operators(lease_plane, tmp_path_factory.mktemp("lease-operators"))
    yield made
    made.stop()


@dataclass
class Steady:
    """The lease checked every second while the other tests run."""

    cluster: Cluster
    operator: Operator
    role: DatabaseRole
    watch: LoginWatch
    started: float


def url_template(servers: LeaseServers) -> str:
    where = f"127.0.0.1:{servers.postgres.port}/postgres"
    return f"postgresql://{{{{ data.username }}}}:{{{{ data.password }}}}@{where}"


@pytest.fixture(scope="module")
async def steady(
    lease_plane: ControlPlane,
    lease_kube: KubeClient,
    operators: Operators,
    lease_engines: LeaseServers,
) -> AsyncIterator[Steady]:
    """A 20 s / 60 s lease, shaped by a template into Secret ``db-creds`` (replaced
    leases revoked 5 s after new credentials), restarting Deployment ``app``; its
    Secret checked every second from the first test that uses it on."""
    cluster = await lease_namespace(lease_kube, lease_engines, "steady")
    operator = operators.start("steady", cluster.namespace)
    role = lease_engines.database_role(20, 60)
    template = {
        "DB_USER": "{{ data.username }}",
        "DB_PASSWORD": "{{ data.password }}",
        "DATABASE_URL": url_template(lease_engines),
    }
    await create_lease(
        cluster,
        "db",
        {
            "path": lease_engines.engines.creds_path(role.name),
            "revokeGracePeriod": "5s",
            "target": {"name": "db-creds", "data": {"template": template}},
            "rolloutRestartTargets": [{"kind": "Deployment", "name": "app"}],
        },
    )
    await eventually(lambda: cluster.secret("db-creds"), 30, "the Secret of lease db")
    watch = LoginWatch(
        lease_plane, lease_engines.postgres, cluster.namespace, "db-creds", STEADY_SECONDS
    )
    watch.start()
    try:
        yield Steady(cluster, operator, role, watch, time.monotonic())
    finally:
        watch.stop()


async def test_the_secret_logs_in_and_is_shaped_by_the_target(
    steady: Steady, lease_engines: LeaseServers
) -> None:
    cluster = steady.cluster
    status = await wait_lease(cluster, "db", lambda s: s.get("leaseId"))
    secret = await cluster.secret("db-creds")
    assert secret is not None and secret["type"] == "Opaque"
    data = decoded(secret)
    assert set(data) == {"DB_USER", "DB_PASSWORD", "DATABASE_URL"}
    user, password = data["DB_USER"], data["DB_PASSWORD"]
    port = lease_engines.postgres.port
    assert data["DATABASE_URL"] == f"postgresql://{user}:{password}@127.0.0.1:{port}/postgres"
    assert lease_engines.postgres.can_log_in(user, password)
    assert user in role_users(lease_engines, steady.role.name)
    meta = secret["metadata"]
    assert meta["labels"][MANAGED_BY] == "scaivault-federation"
    assert meta["annotations"]["federation.scaivault.io/lease-id"] == status["leaseId"]
    assert status["leaseId"].startswith(f"database/creds/{steady.role.name}/")
    assert status["secretName"] == "db-creds"
    assert status["leaseDuration"] == 20 and status["renewable"] is True
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Issued")


async def test_a_retained_lease_outlives_its_resource(
    steady: Steady, lease_engines: LeaseServers
) -> None:
    cluster = steady.cluster
    role = lease_engines.database_role(20, 60)
    spec = {"path": lease_engines.engines.creds_path(role.name), "deletionPolicy": "Retain"}
    await create_lease(cluster, "kept", spec)
    await wait_lease(cluster, "kept", lambda s: s.get("leaseId"))
    kept = await held(cluster, "kept")
    await cluster.kube.delete(lease_url(cluster, "kept"))
    await gone(cluster, lease_url(cluster, "kept"))
    secret = await cluster.secret("kept")
    assert secret is not None, "the Secret is kept"
    assert MANAGED_BY not in (secret["metadata"].get("labels") or {})
    assert decoded(secret) == {"username": kept.user, "password": kept.password}
    assert role_users(lease_engines, role.name) == {kept.user}
    assert lease_engines.postgres.can_log_in(kept.user, kept.password)


async def test_a_sigkilled_operators_successor_keeps_the_lease_and_deletion_revokes_it(
    lease_kube: KubeClient, operators: Operators, lease_engines: LeaseServers
) -> None:
    cluster = await lease_namespace(lease_kube, lease_engines, "restart")
    first = operators.start("restart-1", cluster.namespace)
    role = lease_engines.database_role(20, 300)
    await create_lease(cluster, "db", {"path": lease_engines.engines.creds_path(role.name)})
    before = await wait_lease(cluster, "db", lambda s: s.get("renewals", 0) >= 1, 40)
    holding = await held(cluster, "db")
    assert first.issued() == 1
    assert role_users(lease_engines, role.name) == {holding.user}

    first.kill()
    second = operators.start("restart-2", cluster.namespace)
    after = await wait_lease(
        cluster, "db", lambda s: s.get("renewals", 0) > before["renewals"], 40, "a renewal"
    )
    await assert_kept(cluster, lease_engines, role, holding, after, before, second)
    await assert_no_canary(cluster, [first, second], {holding.password})

    # deletionPolicy Revoke (the default): the lease revoked, its user dropped
    await cluster.kube.delete(lease_url(cluster, "db"))
    await gone(cluster, lease_url(cluster, "db"))
    assert await cluster.secret("db") is None

    async def dropped() -> bool:
        return not role_users(lease_engines, role.name)

    await eventually(dropped, 10, "the lease's PostgreSQL user to be dropped")


async def test_an_ha_takeover_keeps_the_lease(
    lease_kube: KubeClient, operators: Operators, lease_engines: LeaseServers
) -> None:
    cluster = await lease_namespace(lease_kube, lease_engines, "ha")
    group = f"leases-{uuid.uuid4().hex[:6]}"
    replicas = [operators.start(f"ha-{i}", cluster.namespace, peering=group) for i in range(2)]
    role = lease_engines.database_role(20, 300)
    spec = {"path": lease_engines.engines.creds_path(role.name), "deletionPolicy": "Retain"}
    await create_lease(cluster, "db", spec)
    before = await wait_lease(cluster, "db", lambda s: s.get("renewals", 0) >= 1, 40)
    holding = await held(cluster, "db")
    issued = [r.issued() for r in replicas]
    assert sorted(issued) == [0, 1], issued
    owner, other = (replicas[0], replicas[1]) if issued[0] else (replicas[1], replicas[0])

    owner.kill()
    after = await wait_lease(
        cluster, "db", lambda s: s.get("renewals", 0) > before["renewals"], 40, "a renewal"
    )
    await assert_kept(cluster, lease_engines, role, holding, after, before, other)
    await assert_no_canary(cluster, replicas, {holding.password})


async def assert_kept(
    cluster: Cluster,
    servers: LeaseServers,
    role: DatabaseRole,
    holding: Held,
    after: dict[str, Any],
    before: dict[str, Any],
    successor: Operator,
) -> None:
    """The successor renewed the lease the status and the Secret name, and asked for
    no credentials: the role has one PostgreSQL user, and it logs in."""
    assert after["leaseId"] == before["leaseId"] == holding.lease_id
    assert after.get("rotations", 0) == 0
    assert await held(cluster, "db") == holding
    assert successor.issued() == 0
    assert successor.value(RENEWALS, namespace=cluster.namespace) >= 1
    assert role_users(servers, role.name) == {holding.user}
    assert servers.postgres.can_log_in(holding.user, holding.password)


async def assert_no_canary(
    cluster: Cluster, processes: list[Operator], passwords: set[str]
) -> None:
    """No password in any process's log or metrics, the namespace's events or the
    FederationLeases (their status)."""
    places: dict[str, str] = {}
    for proc in processes:
        places[f"log of {proc.proc.name}"] = await asyncio.to_thread(proc.log.read_text)
        if proc.proc.running:
            places[f"metrics of {proc.proc.name}"] = await asyncio.to_thread(proc.metrics)
    places["events"] = json.dumps(await cluster.events())
    places["leases"] = json.dumps(await cluster.kube.get(lease_url(cluster)))
    assert len(places["events"]) > 2 and "leaseId" in places["leases"]
    leaked = sorted(where for where, text in places.items() for p in passwords if p in text)
    assert not leaked, f"a password appears in: {leaked}"


async def test_credentials_log_in_at_every_second_for_three_minutes(
    steady: Steady, lease_engines: LeaseServers
) -> None:
    cluster, watch = steady.cluster, steady.watch
    watch.join()
    status = await lease_status(cluster, "db")
    renewals, rotations = status.get("renewals", 0), status.get("rotations", 0)
    print(
        f"\nlease db: {watch.logins} logins in {STEADY_SECONDS}s, "
        f"{len(watch.failures)} failed, {renewals} renewals, {rotations} rotations, "
        f"{len(watch.lease_ids)} leases seen"
    )
    assert watch.failures == []
    assert watch.logins >= STEADY_SECONDS * 0.9
    # 20 s leases renewed at 2/3 and replaced before their 60 s max TTL
    assert renewals >= 6 and rotations >= 2, status
    assert len(set(watch.lease_ids)) >= rotations
    labels = {"namespace": cluster.namespace, "resource": "db"}
    assert steady.operator.value(RENEWALS, **labels) == renewals
    assert steady.operator.value(ROTATIONS, **labels) == rotations

    # the replaced leases are revoked after their 5 s grace: their users are dropped
    replaced = set(watch.users[:-1])
    assert len(replaced) >= rotations - 1

    async def revoked() -> bool:
        return not replaced & role_users(lease_engines, steady.role.name)

    await eventually(revoked, 10, "the replaced leases' users to be dropped")
    events = [e for e in await cluster.events() if e["involvedObject"]["name"] == "db"]
    reasons = [e["reason"] for e in events for _ in range(e.get("count") or 1)]
    assert reasons.count("Revoked") >= len(replaced)

    # one rollout restart per rotation, none per renewal
    app = await cluster.kube.get(f"/apis/apps/v1/namespaces/{cluster.namespace}/deployments/app")
    status = await lease_status(cluster, "db")
    assert app["metadata"]["generation"] - 1 == status["rotations"]

    await assert_no_canary(cluster, [steady.operator], watch.passwords)

    await cluster.kube.delete(lease_url(cluster, "db"))
    await gone(cluster, lease_url(cluster, "db"))
    assert await cluster.secret("db-creds") is None

    async def dropped() -> bool:
        return not role_users(lease_engines, steady.role.name)

    await eventually(dropped, 10, "the lease's PostgreSQL user to be dropped")
