"""ClusterFederationBackend: one backend, from the operator's namespace, syncing into
every namespace its namespaceSelector selects, against the real apiserver and
OpenBao; namespaces are followed as their labels change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.labels import FINALIZER, GROUP, VERSION

from .fleet import CLUSTER_BACKENDS, Fleet
from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

MANAGED = "app.kubernetes.io/managed-by"
OWNER = "federation.scaivault.io/backend"
CLUSTER_OWNER = "federation.scaivault.io/cluster-backend"


def seed(openbao: OpenBaoServer, prefix: str, namespaces: list[str]) -> None:
    openbao.request("POST", f"/v1/secret/data/{prefix}/shared/db", {"data": {"password": "pw"}})
    for namespace in namespaces:
        openbao.request(
            "POST",
            f"/v1/secret/data/{prefix}/teams/{namespace}/token",
            {"data": {"token": f"token-of-{namespace}"}},
        )


async def assert_synced(cluster: Cluster, name: str) -> None:
    db, token = await cluster.secret("shared-db"), await cluster.secret("team-token")
    assert db is not None and token is not None, cluster.namespace
    assert decoded(db) == {"password": "pw"}
    assert decoded(token) == {"token": f"token-of-{cluster.namespace}"}
    for secret in (db, token):
        labels = secret["metadata"]["labels"]
        assert labels[MANAGED] == "scaivault-federation"
        assert labels[OWNER] == f"cluster_{name}"  # never a FederationBackend's name
        assert labels[CLUSTER_OWNER] == name


async def test_syncs_into_selected_namespaces_and_follows_labels_retain(
    fleet: Fleet, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{fleet.id}"
    a, b, c = [await fleet.namespace(selected=True) for _ in range(3)]
    d = await fleet.namespace(selected=False)
    seed(openbao, prefix, fleet.names)
    # a Secret of someone else's in the way in ``c``: a conflict that names its namespace
    await c.put_secret("shared-db", {"password": "local"})
    name = f"platform-{fleet.id}"
    await fleet.create(name, openbao, prefix)

    status = await fleet.wait_namespaces(name, a, b, c)
    assert (status["secretsSynced"], status["namespaceCount"]) == (5, 3)
    assert status["conflictCount"] == 1
    (conflict,) = status["conflicts"]
    assert (conflict["namespace"], conflict["path"]) == (c.namespace, "shared/db")
    figures = {n["name"]: (n["secretsSynced"], n["conflictCount"]) for n in status["namespaces"]}
    assert figures == {a.namespace: (2, 0), b.namespace: (2, 0), c.namespace: (1, 1)}
    await assert_synced(a, name)
    await assert_synced(b, name)
    assert decoded(await c.secret("shared-db") or {}) == {"password": "local"}
    assert await d.secret("team-token") is None
    events = await Cluster(fleet.kube, "default").events()
    ours = [e for e in events if e["involvedObject"].get("name") == name]
    assert {(e["reason"], e["involvedObject"]["kind"]) for e in ours} == {
        ("ConflictDetected", "ClusterFederationBackend")
    }
    assert f"namespace {c.namespace}, path shared/db" in ours[0]["message"]

    # a managed Secret deleted by hand in a target namespace is restored at once
    await b.kube.delete(f"/api/v1/namespaces/{b.namespace}/secrets/team-token")
    await eventually(lambda: b.secret("team-token"), 10, "the deleted Secret to be restored")
    await assert_synced(b, name)

    # labelling a fourth namespace syncs it within seconds (no manual sync, 10m interval)
    await fleet.select(d, True)
    await eventually(lambda: d.secret("team-token"), 10, "the new namespace to be synced")
    await assert_synced(d, name)
    await fleet.wait_namespaces(name, a, b, c, d)

    # unlabelling one releases its Secrets (Retain): they stay, unmanaged
    await fleet.select(a, False)
    await fleet.wait_namespaces(name, b, c, d)
    for secret_name in ("shared-db", "team-token"):
        kept = await a.secret(secret_name)
        assert kept is not None
        assert not {MANAGED, OWNER, CLUSTER_OWNER} & set(kept["metadata"].get("labels") or {})

    # deleting the backend releases the rest
    await fleet.delete(name)
    for cluster in (b, d):
        kept = await cluster.secret("team-token")
        assert kept is not None
        assert MANAGED not in (kept["metadata"].get("labels") or {})


async def test_delete_policy_and_a_namespaced_backend_of_the_same_name(
    fleet: Fleet, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{fleet.id}"
    a, b = [await fleet.namespace(selected=True) for _ in range(2)]
    seed(openbao, prefix, fleet.names)
    name = f"platform-{fleet.id}"
    # a FederationBackend named like the cluster backend, in ``b``: never confused
    await b.put_credentials("creds-own-token", {"token": openbao.root_token})
    await b.create_backend(
        name,
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "token",
                "authConfigPath": "creds/own-token",
            },
            "pathMapping": {"own/**": f"secret/data/{prefix}/shared/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )
    await b.wait_status(name, lambda s: s.get("status") == "healthy")
    await fleet.create(name, openbao, prefix, deletionPolicy="Delete")
    status = await fleet.wait_namespaces(name, a, b)
    assert status["conflictCount"] == 0
    await assert_synced(a, name)
    await assert_synced(b, name)
    own = await b.secret("own-db")
    assert own is not None and own["metadata"]["labels"][OWNER] == name

    # unlabelling a namespace deletes its Secrets (Delete)
    await fleet.select(a, False)
    await fleet.wait_namespaces(name, b)
    assert await a.secret("shared-db") is None
    assert await a.secret("team-token") is None

    # deleting the backend deletes the rest, and only its own
    await fleet.delete(name)
    assert await b.secret("shared-db") is None
    assert await b.secret("team-token") is None
    assert await b.secret("own-db") is not None
    assert (await b.status(name))["status"] == "healthy"


async def test_a_cluster_backend_an_earlier_operator_finalized_carries_over(
    fleet: Fleet, openbao: OpenBaoServer
) -> None:
    """A ClusterFederationBackend as kopf left it (its finalizer, the last handled spec
    and kopf's marker among its annotations) is synced as any other; the leftover
    annotations are removed, the finalizer kept, and a deletion still tears down."""
    prefix = f"e2e-{fleet.id}"
    a = await fleet.namespace(selected=True)
    seed(openbao, prefix, fleet.names)
    name = f"legacy-{fleet.id}"
    credentials = await fleet.credentials(openbao.root_token)
    spec = {
        "namespaceSelector": {"matchLabels": fleet.match_labels},
        "type": "hashicorp-vault",
        "config": {"endpoint": openbao.address, "authConfigPath": credentials},
        "pathMapping": {"shared/**": f"secret/data/{prefix}/shared/**"},
        "mode": "sync",
        "syncInterval": "10m",
        "deletionPolicy": "Delete",
    }
    leftovers = {
        f"{GROUP}/last-handled-configuration": json.dumps({"spec": spec}),
        f"{GROUP}/kopf-managed": "yes",
    }
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterFederationBackend",
        "metadata": {"name": name, "finalizers": [FINALIZER], "annotations": leftovers},
        "spec": spec,
    }
    await fleet.kube.post(CLUSTER_BACKENDS, body)
    await fleet.wait_namespaces(name, a)
    assert decoded(await a.secret("shared-db") or {}) == {"password": "pw"}

    async def tidied() -> dict[str, Any] | None:
        meta: dict[str, Any] = (await fleet.kube.get(f"{CLUSTER_BACKENDS}/{name}"))["metadata"]
        return meta if not set(leftovers) & set(meta.get("annotations") or {}) else None

    meta = await eventually(tidied, 30, "the leftover annotations to go")
    assert meta["finalizers"] == [FINALIZER]
    await fleet.delete(name)
    assert await a.secret("shared-db") is None
