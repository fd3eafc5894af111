"""ClusterFederationBackends on ``/v1/federation/backends``: ``"scope": "cluster"`` on
the wire, authorized cluster-wide (SubjectAccessReviews without a namespace), their
status per namespace, and the secrets they sync or proxy into the namespaces they
select, against the real apiserver (and, where they sync, the session's operator and
OpenBao)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.models.status import backend_id

from ..e2e.fleet import Fleet
from .conftest import API_NAMESPACE, CLUSTER_BACKENDS, CLUSTER_PREFIX, LogCapture, Namespace, Tokens
from .helpers import (
    FED,
    ApiClient,
    changed,
    cluster_role_token,
    eventually,
    service_account_token,
)

pytestmark = pytest.mark.e2e

ADDRESS = (
    "http://127.0.0.1:1"  # never contacted: these backends select no namespace or are suspended
)
FEDB = ("federation.scaivault.io", "federationbackends")
CFEDB = ("federation.scaivault.io", "clusterfederationbackends")
SECRETS = ("", "secrets")
NOWHERE = {"match_labels": {"scaivault-api-test/never": "set"}}


def cluster_body(name: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or f"{CLUSTER_PREFIX}{uuid.uuid4().hex[:6]}",
        "scope": "cluster",
        "type": "hashicorp-vault",
        "config": {"endpoint": ADDRESS, "auth_config_path": "creds/vault-token"},
        "namespace_selector": NOWHERE,
        "path_mapping": {"teams/{namespace}/**": "secret/data/teams/{namespace}/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "suspend": True,
    }
    body.update(extra)
    return body


async def create_cluster(api: ApiClient, **extra: Any) -> dict[str, Any]:
    reply = await api.post(f"{FED}/backends", json=cluster_body(**extra))
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.body
    return created


async def test_crud_of_a_cluster_backend(api: ApiClient, kube: KubeClient, ns: Namespace) -> None:
    body = cluster_body()
    name = body["name"]
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    created = reply.body
    cr = await kube.get(f"{CLUSTER_BACKENDS}/{name}")
    assert created["id"] == backend_id(cr["metadata"]["uid"])
    assert reply.headers["Location"] == f"{FED}/backends/{created['id']}"
    assert created == {
        "id": created["id"],
        "name": name,
        "namespace": None,
        "scope": "cluster",
        "namespace_selector": {"match_labels": NOWHERE["match_labels"], "match_expressions": []},
        "type": "hashicorp-vault",
        "config": {
            "endpoint": ADDRESS,
            "auth_method": "token",
            "auth_config_path": "creds/vault-token",
            "tls_verify": True,
        },
        "path_mapping": {"teams/{namespace}/**": "secret/data/teams/{namespace}/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "conflict_policy": "report",
        "deletion_policy": "Retain",
        "prune": False,
        "suspend": True,
    }
    # camelCase in the CR, no namespace
    assert "namespace" not in cr["metadata"]
    assert cr["spec"]["namespaceSelector"]["matchLabels"] == NOWHERE["match_labels"]
    assert cr["spec"]["config"]["authConfigPath"] == "creds/vault-token"
    url = f"{FED}/backends/{created['id']}"
    assert (await api.get(url)).body == created

    # the same name twice: 409; a FederationBackend of that name elsewhere is another object
    again = await api.post(f"{FED}/backends", json=cluster_body(name))
    assert again.status == 409 and again.error["code"] == "already_exists"
    namespaced = await api.post(
        f"{FED}/backends",
        json={**cluster_body(name), "scope": "namespace", "namespace": ns.name}
        | {"namespace_selector": None, "path_mapping": {"t/**": "secret/data/t/**"}},
    )
    assert namespaced.status == 201, namespaced.body
    assert namespaced.body["scope"] == "namespace" and namespaced.body["namespace"] == ns.name

    # lists: both scopes by default, one with ?scope=, namespaced only with ?namespace=
    everything = await api.get(f"{FED}/backends")
    ids = [b["id"] for b in everything.body["backends"]]
    assert created["id"] in ids and namespaced.body["id"] in ids
    clusters = await api.get(f"{FED}/backends", params={"scope": "cluster"})
    assert created in clusters.body["backends"]
    assert {b["scope"] for b in clusters.body["backends"]} == {"cluster"}
    namespaced_only = await api.get(f"{FED}/backends", params={"scope": "namespace"})
    assert {b["scope"] for b in namespaced_only.body["backends"]} == {"namespace"}
    assert namespaced.body in namespaced_only.body["backends"]
    in_ns = await api.get(f"{FED}/backends", params={"namespace": ns.name})
    assert in_ns.body == {"backends": [namespaced.body]}
    both = await api.get(f"{FED}/backends", params={"namespace": ns.name, "scope": "cluster"})
    assert both.status == 400 and both.error["field"] == "scope"
    bad = await api.get(f"{FED}/backends", params={"scope": "galaxy"})
    assert bad.status == 400 and bad.error["field"] == "scope"

    # a merge patch, the selector included
    selector = {"match_labels": {"scaivault-api-test/other": "x"}}
    reply = await api.patch(url, json={"sync_interval": "1h", "namespace_selector": selector})
    assert reply.status == 200, reply.body
    assert reply.body["sync_interval"] == "1h"
    assert reply.body["namespace_selector"]["match_labels"] == {
        **NOWHERE["match_labels"],
        "scaivault-api-test/other": "x",
    }
    cr = await kube.get(f"{CLUSTER_BACKENDS}/{name}")
    assert cr["spec"]["syncInterval"] == "1h"
    assert cr["spec"]["namespaceSelector"]["matchLabels"]["scaivault-api-test/other"] == "x"
    assert (await api.get(url)).body == reply.body
    for patch, field in (
        ({"namespace": "elsewhere"}, "namespace"),
        ({"scope": "namespace"}, "scope"),
        ({"namespace_selector": None}, "namespace_selector"),
        (
            {"namespace_selector": {"match_expressions": [{"key": "a", "operator": "In"}]}},
            "namespace_selector.match_expressions.0",
        ),
        ({"config": {"endpoint": "http://169.254.169.254"}}, "config.endpoint"),
    ):
        refused = await api.patch(url, json=patch)
        assert refused.status == 400, (patch, refused.body)
        assert refused.error["field"] == field, (patch, refused.error)
    same = await api.patch(url, json={"name": name, "namespace": None, "scope": "cluster"})
    assert same.status == 200
    # a namespaced backend has no selector
    refused = await api.patch(
        f"{FED}/backends/{namespaced.body['id']}", json={"namespace_selector": selector}
    )
    assert refused.status == 400 and refused.error["field"] == "namespace_selector"

    # sync: 202 and the annotation; per-path with {namespace} standing for any namespace
    sync = await api.post(url + "/sync")
    assert sync.status == 409 and sync.error["code"] == "suspended"
    assert (await api.patch(url, json={"suspend": False})).status == 200
    sync = await api.post(url + "/sync", json={"paths": ["teams/team-a/db"]})
    assert sync.status == 202, sync.body
    cr = await kube.get(f"{CLUSTER_BACKENDS}/{name}")
    notes = cr["metadata"]["annotations"]
    assert notes["federation.scaivault.io/sync-requested-at"] == sync.body["sync_requested_at"]
    unmapped = await api.post(url + "/sync", json={"paths": ["elsewhere/db"]})
    assert unmapped.status == 400 and unmapped.error["field"] == "paths"

    gone = await api.delete(url)
    assert gone.status == 204
    assert (await api.get(url)).status == 404
    listed = await api.get(f"{FED}/backends", params={"scope": "cluster"})
    assert created["id"] not in [b["id"] for b in listed.body["backends"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"namespace": API_NAMESPACE}, "namespace"),
        ({"scope": "namespace"}, "namespace_selector"),
        ({"scope": "galaxy"}, "scope"),
        ({"namespace_selector": None}, "namespace_selector"),
        ({"namespace_selector": {"matchLabels": {"a": "b"}}}, "namespace_selector.matchLabels"),
        (
            {"namespace_selector": {"match_expressions": [{"key": "a", "operator": "Near"}]}},
            "namespace_selector.match_expressions.0.operator",
        ),
        (
            {
                "namespace_selector": {
                    "match_expressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            },
            "namespace_selector.match_expressions.0",
        ),
        ({"config": {"endpoint": "http://169.254.169.254"}}, "config.endpoint"),
        ({"path_mapping": {"a/{namespace}/**": "b/*"}}, "path_mapping"),
        ({"sync_interval": None}, "sync_interval"),
        # accepted by the models, refused by the CRD (a label value is at most 63 characters)
        (
            {"namespace_selector": {"match_labels": {"team": "x" * 64}}},
            "namespace_selector.match_labels",
        ),
    ],
)
async def test_invalid_cluster_bodies_name_the_field(
    api: ApiClient, change: dict[str, Any], field: str
) -> None:
    body = changed(cluster_body(), change)
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "invalid_request"
    assert reply.error["field"] is not None and reply.error["field"].startswith(field), reply.error


async def test_a_selector_alone_makes_a_cluster_backend(api: ApiClient) -> None:
    body = cluster_body()
    del body["scope"]
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201 and reply.body["scope"] == "cluster", reply.body
    assert (await api.delete(f"{FED}/backends/{reply.body['id']}")).status == 204


async def test_static_tokens_and_cluster_backends(api: ApiClient, tok: Tokens) -> None:
    created = await create_cluster(api)
    url = f"{FED}/backends/{created['id']}"
    # federation:read (every namespace) reads cluster backends, and writes none
    reader = api.with_token(tok.read_only)
    assert (await reader.get(url)).status == 200
    assert (await reader.get(url + "/status")).status == 200
    assert (await reader.get(url + "/conflicts")).status == 200
    listed = await reader.get(f"{FED}/backends")
    assert created["id"] in [b["id"] for b in listed.body["backends"]]
    assert (await reader.patch(url, json={"prune": True})).status == 403
    assert (await reader.post(url + "/sync")).status == 403
    assert (await reader.delete(url)).status == 403
    assert (await reader.post(f"{FED}/backends", json=cluster_body())).status == 403
    # a token limited to some namespaces has no cluster-wide reach
    limited = api.with_token(tok.restricted)
    denied = await limited.get(url)
    assert denied.status == 403 and "cluster" in denied.error["message"]
    listed = await limited.get(f"{FED}/backends")
    # (403 when its namespaces hold no backend: there is nothing it may list)
    assert listed.status == 403 or created["id"] not in [b["id"] for b in listed.body["backends"]]
    assert (await limited.get(f"{FED}/backends", params={"scope": "cluster"})).status == 403
    assert (await limited.post(f"{FED}/backends", json=cluster_body())).status == 403
    # federation:write
    writer = api.with_token(tok.fed_write)
    assert (await writer.patch(url, json={"prune": True})).status == 200
    assert (await writer.delete(url)).status == 204


async def test_kubernetes_rights_on_cluster_backends_are_cluster_wide(
    api: ApiClient, ns: Namespace
) -> None:
    created = await create_cluster(api)
    url = f"{FED}/backends/{created['id']}"
    # A Role in its namespace granting everything, clusterfederationbackends included: RBAC
    # would allow a review naming that namespace, so only a review without a namespace
    # (as the API sends them) is denied.
    everything = ["get", "list", "create", "patch", "delete"]
    local = api.with_token(
        await service_account_token(
            ns.kube, ns.name, {FEDB: everything, CFEDB: everything, SECRETS: ["get"]}
        )
    )
    # its namespaced rights work
    body = {**cluster_body(), "scope": "namespace", "namespace": ns.name}
    body.pop("namespace_selector")
    body["path_mapping"] = {"t/**": "secret/data/t/**"}
    assert (await local.post(f"{FED}/backends", json=body)).status == 201

    listed = await local.get(f"{FED}/backends")
    assert listed.status == 200
    assert {b["scope"] for b in listed.body["backends"]} <= {"namespace"}
    assert created["id"] not in [b["id"] for b in listed.body["backends"]]
    for reply in (
        await local.get(url),
        await local.get(url + "/status"),
        await local.get(url + "/conflicts"),
        await local.patch(url, json={"prune": True}),
        await local.post(url + "/sync"),
        await local.delete(url),
        await local.get(f"{FED}/backends", params={"scope": "cluster"}),
        await local.post(f"{FED}/backends", json=cluster_body()),
    ):
        assert reply.status == 403, reply.body
        assert created["name"] not in reply.error["message"]
    # a ClusterRole: reading only
    reader = api.with_token(await cluster_role_token(ns.kube, ns.name, {CFEDB: ["get", "list"]}))
    assert (await reader.get(url)).body == created
    assert (await reader.get(url + "/status")).status == 200
    listed = await reader.get(f"{FED}/backends")
    assert listed.status == 200 and [b["id"] for b in listed.body["backends"]] == [
        b["id"]
        for b in (await api.get(f"{FED}/backends", params={"scope": "cluster"})).body["backends"]
    ]
    assert (await reader.patch(url, json={"prune": True})).status == 403
    assert (await reader.delete(url)).status == 403
    # ... and writing
    writer = api.with_token(
        await cluster_role_token(
            ns.kube, ns.name, {CFEDB: ["get", "list", *everything[2:]], SECRETS: ["get"]}
        )
    )
    made = await writer.post(f"{FED}/backends", json=cluster_body())
    assert made.status == 201, made.body
    assert (await writer.patch(url, json={"prune": True})).status == 200
    assert (await writer.post(url + "/sync")).status == 409  # suspended
    assert (await writer.delete(url)).status == 204
    assert (await writer.delete(f"{FED}/backends/{made.body['id']}")).status == 204


# --- with the operator: a sync into selected namespaces, and a proxy ----------------------


async def tenant(fleet: Fleet, selected: bool) -> str:
    return (await fleet.namespace(selected)).namespace


def selector(fleet: Fleet) -> dict[str, Any]:
    return {"match_labels": fleet.match_labels}


def local_secret(name: str, path: str, values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "annotations": {"federation.scaivault.io/path": path}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


async def test_a_synced_cluster_backend_status_conflicts_and_secrets(
    api: ApiClient,
    fleet: Fleet,
    openbao: OpenBaoServer,
    kube: KubeClient,
    api_log: LogCapture,
) -> None:
    prefix = f"api-cluster-{fleet.id}"
    a, b = await tenant(fleet, True), await tenant(fleet, True)
    outside = await tenant(fleet, False)
    canaries = {name: f"canary-{name}-{uuid.uuid4().hex}" for name in (a, b, outside)}
    shared = f"canary-shared-{uuid.uuid4().hex}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/shared/db", {"data": {"password": shared}})
    for name, value in canaries.items():
        openbao.request(
            "POST", f"/v1/secret/data/{prefix}/teams/{name}/token", {"data": {"token": value}}
        )
    # someone else's Secret in the way in ``b``: a conflict that names its namespace
    await kube.post(f"/api/v1/namespaces/{b}/secrets", local_secret("shared-db", "x/y", {"k": "v"}))
    creds = await fleet.credentials(openbao.root_token)
    body = cluster_body(
        config={"endpoint": openbao.address, "auth_config_path": creds},
        namespace_selector=selector(fleet),
        path_mapping={
            "shared/**": f"secret/data/{prefix}/shared/**",
            "team/**": f"secret/data/{prefix}/teams/{{namespace}}/**",
        },
        suspend=False,
    )
    created = (await api.post(f"{FED}/backends", json=body)).body
    url = f"{FED}/backends/{created['id']}"
    try:

        async def synced() -> Any:
            reply = await api.get(url + "/status")
            listed = [n["name"] for n in reply.body.get("namespaces") or []]
            return reply if reply.body["status"] != "pending" and listed == sorted([a, b]) else None

        status = (await eventually(synced, 30, "the cluster backend's sync")).body
        assert status["id"] == created["id"] and status["name"] == created["name"]
        assert status["namespace_count"] == 2
        assert status["secrets_synced"] == 3 and status["conflict_count"] == 1
        figures = {
            n["name"]: (n["secrets_synced"], n["conflict_count"]) for n in status["namespaces"]
        }
        assert figures == {a: (2, 0), b: (1, 1)}
        conflicts = (await api.get(url + "/conflicts")).body["conflicts"]
        assert [(c["namespace"], c["path"]) for c in conflicts] == [(b, "shared/db")]

        # a path the cluster backend synced into ``a``: source sync, its id
        read = await api.get("/v1/secrets/team/token", params={"namespace": a})
        assert read.status == 200, read.body
        assert read.body == {
            "path": "team/token",
            "data": {"token": canaries[a]},
            "source": "sync",
            "backend_id": created["id"],
        }
        # it owns the path: writes are refused like any synced path's
        for method in ("PUT", "DELETE"):
            refused = await api.call(
                method,
                "/v1/secrets/team/token",
                params={"namespace": a},
                json={"data": {"token": "mine"}} if method == "PUT" else None,
            )
            assert refused.status == 409 and refused.error["code"] == "synced_path", refused.body
            assert created["name"] in refused.error["message"]
        # a namespace it does not select: the path is nobody's
        assert (
            await api.get("/v1/secrets/team/token", params={"namespace": outside})
        ).status == 404
        put = await api.put(
            "/v1/secrets/team/token", params={"namespace": outside}, json={"data": {"t": "local"}}
        )
        assert put.status == 201 and put.body["source"] == "local"

        # a manual sync of the cluster backend
        sync = await api.post(url + "/sync")
        assert sync.status == 202
    finally:
        assert (await api.delete(url)).status == 204
    text = "\n".join(api_log.lines) + repr([r.body for r in api.replies if r.body])
    for value in (shared, canaries[b], canaries[outside]):
        assert value not in text
    assert canaries[a] not in "\n".join(api_log.lines)


async def test_a_proxy_cluster_backend_reads_through(
    api: ApiClient, fleet: Fleet, openbao: OpenBaoServer, api_log: LogCapture
) -> None:
    prefix = f"api-cproxy-{fleet.id}"
    a, outside = await tenant(fleet, True), await tenant(fleet, False)
    value = f"canary-proxied-{uuid.uuid4().hex}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/{a}/db", {"data": {"password": value}})
    creds = await fleet.credentials(openbao.root_token)
    body = cluster_body(
        config={"endpoint": openbao.address, "auth_config_path": creds},
        namespace_selector=selector(fleet),
        path_mapping={"px/**": f"secret/data/{prefix}/{{namespace}}/**"},
        mode="proxy",
        suspend=False,
    )
    body.pop("sync_interval")
    created = (await api.post(f"{FED}/backends", json=body)).body
    url = f"{FED}/backends/{created['id']}"
    try:

        async def proxied() -> Any:
            reply = await api.get("/v1/secrets/px/db", params={"namespace": a})
            return reply if reply.status == 200 else None

        read = (await eventually(proxied, 15, "a proxied read in a selected namespace")).body
        assert read == {
            "path": "px/db",
            "data": {"password": value},
            "source": "proxy",
            "backend_id": created["id"],
        }
        refused = await api.put(
            "/v1/secrets/px/db", params={"namespace": a}, json={"data": {"k": "v"}}
        )
        assert refused.status == 409 and refused.error["code"] == "proxied_path"
        assert (await api.get("/v1/secrets/px/db", params={"namespace": outside})).status == 404
        sync = await api.post(url + "/sync")
        assert sync.status == 409 and sync.error["code"] == "proxy_mode"
    finally:
        assert (await api.delete(url)).status == 204
    assert value not in "\n".join(api_log.lines)
