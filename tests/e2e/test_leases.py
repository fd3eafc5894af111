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
asking for new credentials (and an HA replica taking a certificate over keeps it
until it is due); deletion revokes (the PostgreSQL user is dropped) or
keeps it; no password appears in a log, an event, the status or the metrics.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
    users_dropped,
    wait_lease,
)
from .test_rollout_and_refresh import Workloads

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


CERTIFICATES = "federationcertificates"
ISSUE_CERTIFICATE = "issue_certificate"


async def status_of(cluster: Cluster, plural: str, name: str) -> dict[str, Any]:
    return dict((await cluster.kube.get(url(cluster, plural, name))).get("status") or {})


async def wait_ready(cluster: Cluster, plural: str, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await status_of(cluster, plural, name)
        ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        return status if ready and ready[0]["status"] == "True" else None

    return await eventually(probe, 30, f"{name} to be Ready")


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
NAMES = (RENEWALS, ROTATIONS)
TEMPLATE = {"DB_USER": "{{ data.username }}", "DB_PASSWORD": "{{ data.password }}"}
APP = "deployments/app"


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
class Watched:
    """A lease ``db`` whose Secret ``db-creds`` is checked every second from the first
    test that uses it on, while the others run."""

    cluster: Cluster
    operator: Operator
    role: DatabaseRole
    watch: LoginWatch


async def watched_lease(
    servers: LeaseServers,
    made: tuple[ControlPlane, KubeClient, Operators],
    name: str,
    role: DatabaseRole,
    seconds: float,
    spec: dict[str, Any],
    token_ttl: int | None = None,
) -> Watched:
    """Lease ``db`` of ``role`` (replaced leases revoked 5 s after new credentials) in
    a namespace of its own with an operator of its own, its Secret watched."""
    plane, kube, operators = made
    cluster = await lease_namespace(kube, servers, name, token_ttl=token_ttl)
    operator = operators.start(name, cluster.namespace)
    path = servers.engines.creds_path(role.name)
    await create_lease(cluster, "db", {"path": path, "revokeGracePeriod": "5s", **spec})
    await eventually(lambda: cluster.secret("db-creds"), 30, "the Secret of lease db")
    watch = LoginWatch(plane, servers.postgres, cluster.namespace, "db-creds", seconds)
    watch.start()
    return Watched(cluster, operator, role, watch)


def url_template(servers: LeaseServers) -> str:
    where = f"127.0.0.1:{servers.postgres.port}/postgres"
    return f"postgresql://{{{{ data.username }}}}:{{{{ data.password }}}}@{where}"


@pytest.fixture(scope="module")
async def steady(
    lease_plane: ControlPlane,
    lease_kube: KubeClient,
    operators: Operators,
    lease_engines: LeaseServers,
) -> AsyncIterator[Watched]:
    """A 20 s / 60 s lease, shaped by a template, restarting Deployment ``app``: three
    minutes."""
    template = {**TEMPLATE, "DATABASE_URL": url_template(lease_engines)}
    spec = {
        "target": {"name": "db-creds", "data": {"template": template}},
        "rolloutRestartTargets": [{"kind": "Deployment", "name": "app"}],
    }
    role = lease_engines.database_role(20, 60)
    made = (lease_plane, lease_kube, operators)
    watched = await watched_lease(lease_engines, made, "steady", role, STEADY_SECONDS, spec)
    try:
        yield watched
    finally:
        watched.watch.stop()


@pytest.fixture(scope="module")
async def short_token(
    lease_plane: ControlPlane,
    lease_kube: KubeClient,
    operators: Operators,
    lease_engines: LeaseServers,
) -> AsyncIterator[Watched]:
    """A 20 s lease whose backend's login tokens live 30 s: one minute."""
    spec = {"target": {"name": "db-creds", "data": {"template": TEMPLATE}}}
    role = lease_engines.database_role(20, 300)
    made = (lease_plane, lease_kube, operators)
    watched = await watched_lease(lease_engines, made, "token", role, 60, spec, token_ttl=30)
    try:
        yield watched
    finally:
        watched.watch.stop()


@pytest.mark.usefixtures("short_token")  # its minute runs beside the tests that follow
async def test_the_secret_logs_in_and_is_shaped_by_the_target(
    steady: Watched, lease_engines: LeaseServers
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
    steady: Watched, lease_engines: LeaseServers
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

    # a new target means new credentials (the Secret is shaped from them)
    await cluster.kube.merge_patch(
        lease_url(cluster, "db"), {"spec": {"target": {"labels": {"tier": "db"}}}}
    )
    rotated = await wait_lease(cluster, "db", lambda s: s.get("rotations") == 1, 20, "rotation")
    assert rotated["leaseId"] != holding.lease_id
    secret = await cluster.secret("db")
    assert secret is not None and secret["metadata"]["labels"]["tier"] == "db"
    assert len(role_users(lease_engines, role.name)) == 2  # the replaced one in its grace

    # deletionPolicy Revoke (the default): the lease and the replaced one revoked, their
    # users dropped
    await cluster.kube.delete(lease_url(cluster, "db"))
    await gone(cluster, lease_url(cluster, "db"))
    assert await cluster.secret("db") is None
    await users_dropped(lease_engines, role)


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

    # a change of what deletion does keeps the credentials; deletion then revokes
    await cluster.kube.merge_patch(lease_url(cluster, "db"), {"spec": {"deletionPolicy": "Revoke"}})
    seen = await wait_lease(cluster, "db", lambda s: s.get("observedGeneration") == 2, 20)
    assert (seen["leaseId"], seen.get("rotations", 0)) == (holding.lease_id, 0)
    await cluster.kube.delete(lease_url(cluster, "db"))
    await gone(cluster, lease_url(cluster, "db"))
    await users_dropped(lease_engines, role)


async def test_an_ha_takeover_keeps_the_certificate_until_it_is_due(
    lease_kube: KubeClient, operators: Operators, lease_engines: LeaseServers
) -> None:
    """The replica that takes over keeps the certificate the Secret holds (no issue
    while it is valid), re-issues it when due and restarts the workload onto it."""
    cluster = await lease_namespace(lease_kube, lease_engines, "hacert")
    group = f"certs-{uuid.uuid4().hex[:6]}"
    replicas = [operators.start(f"hc-{i}", cluster.namespace, peering=group) for i in range(2)]
    spec = {
        "backendRef": "vault",
        "path": lease_engines.engines.issue_path(),
        "commonName": "web.example.test",
        "ttl": "60s",
        "renewBefore": "20s",
        "rolloutRestartTargets": [{"kind": "Deployment", "name": "app"}],
    }
    await create(cluster, "FederationCertificate", "web", spec)
    before = await wait_ready(cluster, CERTIFICATES, "web")
    secret = await cluster.secret("web")
    assert secret is not None
    issued = [r.issued(ISSUE_CERTIFICATE) for r in replicas]
    assert sorted(issued) == [0, 1], issued
    owner, other = (replicas[0], replicas[1]) if issued[0] else (replicas[1], replicas[0])

    owner.kill()

    async def taken_over() -> float | None:
        labels = {"namespace": cluster.namespace, "resource": "web"}
        return other.value("scaivault_lease_next_renewal_timestamp_seconds", **labels) or None

    await eventually(taken_over, 30, "the other replica to keep the certificate")
    kept = await wait_ready(cluster, CERTIFICATES, "web")
    assert (kept["serialNumber"], kept.get("rotations", 0)) == (before["serialNumber"], 0)
    assert kept["nextRenewalAt"] == before["nextRenewalAt"]
    assert (await cluster.secret("web") or {})["data"] == secret["data"]
    assert other.issued(ISSUE_CERTIFICATE) == 0
    assert await Workloads(cluster).generation("app") == 1

    async def reissued() -> dict[str, Any] | None:
        status = await status_of(cluster, CERTIFICATES, "web")
        return status if status["serialNumber"] != before["serialNumber"] else None

    after = await eventually(reissued, 60, "the successor to re-issue the certificate")
    assert datetime.now(UTC) >= datetime.fromisoformat(before["nextRenewalAt"])
    assert after["rotations"] == 1

    async def restarted() -> dict[str, Any] | None:
        status = await status_of(cluster, CERTIFICATES, "web")
        return status if status.get("restartedFor") == after["serialNumber"] else None

    await eventually(restarted, 10, "app to be restarted onto the new certificate")
    assert await Workloads(cluster).generation("app") == 2

    async def counted() -> bool:  # a step's calls are counted once it is over
        return other.issued(ISSUE_CERTIFICATE) == 1

    await eventually(counted, 5, "the re-issue to be counted")


async def test_credentials_outlive_a_short_login_token(short_token: Watched) -> None:
    """Vault revokes a lease with the token that asked for it: credentials are replaced
    before the token ends, by a lease asked for after a new login (the client itself
    logs in again only at 80% of its token's life)."""
    cluster, watch = short_token.cluster, short_token.watch
    await asyncio.to_thread(watch.join)
    status = await lease_status(cluster, "db")
    print(
        f"\nlease db (30 s login tokens): {watch.logins} logins, {len(watch.failures)} "
        f"failed, {status.get('renewals', 0)} renewals, {status.get('rotations', 0)} rotations"
    )
    assert watch.failures == []
    assert status.get("rotations", 0) >= 1
    await assert_no_canary(cluster, [short_token.operator], watch.passwords)


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
    steady: Watched, lease_engines: LeaseServers
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

    async def counted() -> bool:
        # the lease goes on: the metrics and the status agree between two of its steps
        metrics = [await asyncio.to_thread(steady.operator.value, m, **labels) for m in NAMES]
        now = await lease_status(cluster, "db")
        return metrics == [now.get("renewals", 0), now.get("rotations", 0)]

    await eventually(counted, 10, "the metrics to count the status's renewals and rotations")

    # the replaced leases still log in when the Secret changes, and are revoked after
    # their 5 s grace: their users are dropped
    replaced = set(watch.users[:-1])
    assert len(replaced) >= rotations - 1
    assert watch.replaced_log_in == [True] * len(replaced)

    async def revoked() -> bool:
        return not replaced & role_users(lease_engines, steady.role.name)

    await eventually(revoked, 10, "the replaced leases' users to be dropped")
    events = [e for e in await cluster.events() if e["involvedObject"]["name"] == "db"]
    reasons = [e["reason"] for e in events for _ in range(e.get("count") or 1)]
    assert reasons.count("Revoked") >= len(replaced)

    # one rollout restart per rotation, none per renewal
    async def restarted_per_rotation() -> bool:
        app = await cluster.kube.get(f"/apis/apps/v1/namespaces/{cluster.namespace}/{APP}")
        now = await lease_status(cluster, "db")
        return bool(app["metadata"]["generation"] - 1 == now["rotations"])

    await eventually(restarted_per_rotation, 10, "one rollout restart per rotation")

    await assert_no_canary(cluster, [steady.operator], watch.passwords)

    await cluster.kube.delete(lease_url(cluster, "db"))
    await gone(cluster, lease_url(cluster, "db"))
    assert await cluster.secret("db-creds") is None
    await users_dropped(lease_engines, steady.role)
