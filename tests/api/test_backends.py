"""``/v1/federation/backends``: create, read, list, patch, delete, status, sync, conflicts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.api.server import ApiServer
from scaivault_federation.labels import credentials_labels
from scaivault_federation.models.status import backend_id

from .conftest import API_NAMESPACE, Namespace
from .helpers import FED, ApiClient, changed, eventually, vault_body

pytestmark = pytest.mark.e2e

ADDRESS = "http://127.0.0.1:1"  # never contacted: nothing here runs the operator or a proxy read


async def create(api: ApiClient, ns: Namespace, **extra: Any) -> dict[str, Any]:
    body = vault_body(f"b-{uuid.uuid4().hex[:6]}", ADDRESS, "p", namespace=ns.name, **extra)
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.body
    return result


async def test_create_read_list_delete(api: ApiClient, ns: Namespace) -> None:
    body = vault_body("vault-main", ADDRESS, "team", namespace=ns.name)
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    created = reply.body
    cr = await ns.kube.get(f"{ns.backends()}/vault-main")
    assert created["id"] == backend_id(cr["metadata"]["uid"])
    assert reply.headers["Location"] == f"{FED}/backends/{created['id']}"
    assert created == {
        "id": created["id"],
        "name": "vault-main",
        "namespace": ns.name,
        "scope": "namespace",
        "type": "hashicorp-vault",
        "config": {
            "endpoint": ADDRESS,
            "auth_method": "token",
            "auth_config_path": "creds/vault-token",
            "tls_verify": True,
        },
        "path_mapping": {"external/vault/**": "secret/data/team/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "conflict_policy": "report",
        "deletion_policy": "Retain",
        "prune": False,
        "suspend": False,
    }
    assert cr["spec"]["config"]["authConfigPath"] == "creds/vault-token"
    assert cr["spec"]["pathMapping"] == {"external/vault/**": "secret/data/team/**"}
    assert cr["spec"]["syncInterval"] == "10m"

    one = await api.get(f"{FED}/backends/{created['id']}")
    assert one.status == 200 and one.body == created

    listed = await api.get(f"{FED}/backends", params={"namespace": ns.name})
    assert listed.status == 200 and listed.body == {"backends": [created]}
    everywhere = await api.get(f"{FED}/backends")
    assert created in everywhere.body["backends"]

    gone = await api.delete(f"{FED}/backends/{created['id']}")
    assert gone.status == 204 and gone.raw == b""
    assert (await api.get(f"{FED}/backends/{created['id']}")).status == 404
    listed = await api.get(f"{FED}/backends", params={"namespace": ns.name})
    assert listed.body == {"backends": []}
    assert (await api.delete(f"{FED}/backends/{created['id']}")).status == 404


async def test_default_namespace_and_conflicting_names(api: ApiClient) -> None:
    name = f"default-{uuid.uuid4().hex[:6]}"
    reply = await api.post(f"{FED}/backends", json=vault_body(name, ADDRESS, "x"))
    assert reply.status == 201 and reply.body["namespace"] == API_NAMESPACE
    again = await api.post(f"{FED}/backends", json=vault_body(name, ADDRESS, "x"))
    assert again.status == 409 and again.error["code"] == "already_exists"
    assert (await api.delete(f"{FED}/backends/{reply.body['id']}")).status == 204


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path_mapping": None}, "path_mapping"),
        ({"name": "Not_A_Name"}, "name"),
        ({"name": None}, "name"),
        ({"namespace": "Bad Namespace"}, "namespace"),
        ({"type": "s3"}, "type"),
        ({"mode": "mirror"}, "mode"),
        ({"sync_interval": None}, "sync_interval"),
        ({"sync_interval": "5s"}, "sync_interval"),
        ({"sync_interval": "soon"}, "sync_interval"),
        ({"config": {"endpoint": ADDRESS, "authConfigPath": "a/b"}}, "config.authConfigPath"),
        ({"config": {"auth_config_path": "a/b"}}, "config.endpoint"),
        (
            {"config": {"endpoint": "http://169.254.169.254", "auth_config_path": "a/b"}},
            "config.endpoint",
        ),
        (
            {"config": {"endpoint": "http://[fd00:ec2::254]", "auth_config_path": "a/b"}},
            "config.endpoint",
        ),
        (
            {"config": {"endpoint": "http://metadata.google.internal", "auth_config_path": "a/b"}},
            "config.endpoint",
        ),
        ({"config": {"endpoint": ADDRESS, "auth_method": "radius"}}, "config.auth_method"),
        ({"config": {"endpoint": ADDRESS, "region": "us-east-1"}}, "config.region"),
        ({"path_mapping": {"a/**": "b/*"}}, "path_mapping"),
        ({"path_mapping": {}}, "path_mapping"),
        ({"conflictPolicy": "overwrite"}, "conflictPolicy"),
        ({"id": "fed_123"}, "id"),
        ({"prune": "maybe"}, "prune"),
    ],
)
async def test_invalid_bodies_name_the_field(
    api: ApiClient, ns: Namespace, change: dict[str, Any], field: str
) -> None:
    body = changed(vault_body("bad", ADDRESS, "x", namespace=ns.name), change)
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "invalid_request"
    assert reply.error["field"] == field, reply.error
    assert field in reply.error["message"]


async def test_bodies_that_are_not_json_objects(api: ApiClient) -> None:
    url = f"{FED}/backends"
    text = await api.post(url, data="name=x", headers={"Content-Type": "text/plain"})
    assert text.status == 415 and text.error["code"] == "unsupported_media_type"
    broken = await api.post(url, data="{", headers={"Content-Type": "application/json"})
    assert broken.status == 400 and "JSON" in broken.error["message"]
    array = await api.post(url, json=[1, 2])
    assert array.status == 400 and "object" in array.error["message"]


async def test_unknown_namespace_is_404(api: ApiClient) -> None:
    body = vault_body("x", ADDRESS, "x", namespace=f"missing-{uuid.uuid4().hex[:6]}")
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 404 and reply.error["code"] == "not_found"


async def test_patch_is_a_merge_patch(api: ApiClient, ns: Namespace, api_server: ApiServer) -> None:
    created = await create(api, ns)
    url = f"{FED}/backends/{created['id']}"
    before = await ns.kube.get(f"{ns.backends()}/{created['name']}")

    reply = await api.patch(
        url,
        json={"sync_interval": "1h", "config": {"tls_verify": False}, "prune": True},
    )
    assert reply.status == 200, reply.body
    assert reply.body["sync_interval"] == "1h"
    assert reply.body["config"]["tls_verify"] is False
    assert reply.body["config"]["endpoint"] == ADDRESS  # untouched keys stay
    assert reply.body["prune"] is True
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    assert cr["spec"]["syncInterval"] == "1h"
    assert cr["spec"]["config"]["tlsVerify"] is False
    assert cr["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert (await api.get(url)).body == reply.body

    # null removes; a mapping key can be dropped and another added in one patch
    reply = await api.patch(
        url,
        data='{"mode": "proxy", "sync_interval": null, "path_mapping": '
        '{"external/vault/**": null, "team/*": "secret/data/team/*"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body
    assert reply.body["mode"] == "proxy" and "sync_interval" not in reply.body
    assert reply.body["path_mapping"] == {"team/*": "secret/data/team/*"}
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    assert "syncInterval" not in cr["spec"]
    assert cr["spec"]["pathMapping"] == {"team/*": "secret/data/team/*"}

    # an empty patch changes nothing and writes nothing
    patches = api_server.kube.requests["PATCH"]
    assert (await api.patch(url, json={})).status == 200
    assert api_server.kube.requests["PATCH"] == patches


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"name": "renamed"}, "name"),
        ({"namespace": "elsewhere"}, "namespace"),
        ({"id": "fed_000000000000"}, "id"),
        ({"mode": "sync", "sync_interval": None}, "sync_interval"),
        ({"config": {"endpoint": None}}, "config.endpoint"),
        ({"config": {"endpoint": "http://169.254.169.254"}}, "config.endpoint"),
        ({"config": {"kv_version": 3}}, "config.kv_version"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_patch_rejections(
    api: ApiClient, ns: Namespace, patch: dict[str, Any], field: str
) -> None:
    created = await create(api, ns)
    reply = await api.patch(f"{FED}/backends/{created['id']}", json=patch)
    assert reply.status == 400, reply.body
    assert reply.error["field"] == field


async def test_patch_keeps_unchanged_identity_and_checks_media_type(
    api: ApiClient, ns: Namespace
) -> None:
    created = await create(api, ns)
    url = f"{FED}/backends/{created['id']}"
    same = await api.patch(url, json={"name": created["name"], "namespace": ns.name})
    assert same.status == 200
    text = await api.patch(url, data="x", headers={"Content-Type": "text/plain"})
    assert text.status == 415
    assert (await api.patch(f"{FED}/backends/fed_missing", json={})).status == 404


async def suspended_and_settled(api: ApiClient, ns: Namespace) -> dict[str, Any]:
    """A suspended backend whose status the operator has written once; it writes no more
    until the spec changes, so a test can write the status itself."""
    created = await create(api, ns, suspend=True)

    async def settled() -> Any:
        reply = await api.get(f"{FED}/backends/{created['id']}/status")
        return reply if reply.body["message"] == "sync suspended" else None

    await eventually(settled, what="the operator to record the suspension")
    return created


async def test_status_and_conflicts_come_from_the_cr_status(
    api: ApiClient, ns: Namespace, operator: ManagedProcess
) -> None:
    created = await suspended_and_settled(api, ns)
    url = f"{FED}/backends/{created['id']}"
    pending = await api.get(url + "/status")
    assert pending.status == 200
    assert pending.body == {
        "id": created["id"],
        "name": created["name"],
        "status": "pending",
        "last_sync": None,
        "last_sync_duration_ms": None,
        "secrets_synced": None,
        "connection": {"status": "unknown", "latency_ms": None},
        "conflict_count": 0,
        "message": "sync suspended",
    }
    assert (await api.get(url + "/conflicts")).body == {"conflicts": []}

    now = datetime.now(UTC).replace(microsecond=0)
    status = {
        "id": created["id"],
        "status": "healthy",
        "lastSync": now.isoformat().replace("+00:00", "Z"),
        "lastSyncDurationMs": 3421,
        "secretsSynced": 127,
        "conflictCount": 1,
        "message": "sync suspended",
        "connection": {"status": "connected", "latencyMs": 15},
        "conflicts": [
            {
                "path": "external/vault/db",
                "remotePath": "secret/data/p/db",
                "reason": "local Secret differs",
                "detectedAt": now.isoformat().replace("+00:00", "Z"),
            }
        ],
    }
    await ns.kube.merge_patch(f"{ns.backends()}/{created['name']}/status", {"status": status})

    async def updated() -> Any:
        reply = await api.get(url + "/status")
        return reply if reply.body["status"] == "healthy" else None

    reply = await eventually(updated, what="the status in the API")
    seed_keys = {
        "id",
        "name",
        "status",
        "last_sync",
        "last_sync_duration_ms",
        "secrets_synced",
        "connection",
    }
    assert seed_keys <= set(reply.body) <= seed_keys | {"conflict_count", "message"}
    assert reply.body["last_sync"] == status["lastSync"]
    assert reply.body["last_sync_duration_ms"] == 3421
    assert reply.body["secrets_synced"] == 127
    assert reply.body["connection"] == {"status": "connected", "latency_ms": 15}
    assert reply.body["conflict_count"] == 1
    conflicts = await api.get(url + "/conflicts")
    assert conflicts.body == {
        "conflicts": [
            {
                "path": "external/vault/db",
                "remote_path": "secret/data/p/db",
                "reason": "local Secret differs",
                "detected_at": status["lastSync"],
            }
        ]
    }


async def test_status_costs_no_apiserver_or_backend_call(
    api: ApiClient, ns: Namespace, api_server: ApiServer, openbao: OpenBaoServer
) -> None:
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/x", {"data": {"v": "1"}})
    await ns.kube.post(
        ns.secrets(),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds-vault-token", "labels": credentials_labels()},
            "stringData": {"token": openbao.root_token},
        },
    )
    body = vault_body("proxied", openbao.address, prefix, namespace=ns.name, mode="proxy")
    body.pop("sync_interval")
    created = (await api.post(f"{FED}/backends", json=body)).body
    # a live backend client exists (its calls are counted) and auth answers are cached
    read = await api.get("/v1/secrets/external/vault/x", params={"namespace": ns.name})
    assert read.status == 200 and read.body["source"] == "proxy"
    assert api_server.proxy.total_calls() > 0
    url = f"{FED}/backends/{created['id']}"
    await api.get(url + "/status")
    requests = api_server.kube.total_requests()
    calls = api_server.proxy.total_calls()
    for _ in range(5):
        assert (await api.get(url + "/status")).status == 200
        assert (await api.get(url)).status == 200
        assert (await api.get(url + "/conflicts")).status == 200
    assert (await api.get(f"{FED}/backends", params={"namespace": ns.name})).status == 200
    assert api_server.kube.total_requests() == requests
    assert api_server.proxy.total_calls() == calls


async def test_manual_sync(api: ApiClient, ns: Namespace) -> None:
    created = await create(api, ns)
    reply = await api.post(f"{FED}/backends/{created['id']}/sync")
    assert reply.status == 202
    assert reply.body["id"] == created["id"]
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    stamp = cr["metadata"]["annotations"]["federation.scaivault.io/sync-requested-at"]
    assert stamp == reply.body["sync_requested_at"]

    proxy = await create(api, ns, mode="proxy")
    refused = await api.post(f"{FED}/backends/{proxy['id']}/sync")
    assert refused.status == 409 and refused.error["code"] == "proxy_mode"
    suspended = await create(api, ns, suspend=True)
    refused = await api.post(f"{FED}/backends/{suspended['id']}/sync")
    assert refused.status == 409 and refused.error["code"] == "suspended"
    assert (await api.post(f"{FED}/backends/fed_missing/sync")).status == 404


async def test_unknown_ids_routes_and_methods(api: ApiClient) -> None:
    for suffix in ("", "/status", "/conflicts"):
        reply = await api.get(f"{FED}/backends/fed_000000000000{suffix}")
        assert reply.status == 404 and reply.error["code"] == "not_found"
    nowhere = await api.get("/v1/nowhere", check=False)
    assert nowhere.status == 404 and nowhere.error["code"] == "not_found"
    wrong = await api.call("DELETE", f"{FED}/backends", check=False)
    assert wrong.status == 405 and wrong.error["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    bad_ns = await api.get(f"{FED}/backends", params={"namespace": "Not Valid"})
    assert bad_ns.status == 400 and bad_ns.error["field"] == "namespace"


async def test_manual_sync_of_some_paths(api: ApiClient, ns: Namespace) -> None:
    created = await create(api, ns)
    url = f"{FED}/backends/{created['id']}/sync"
    reply = await api.post(url, json={"paths": ["external/vault/db", "external/vault/web/**"]})
    assert reply.status == 202, reply.body
    assert reply.body["paths"] == ["external/vault/db", "external/vault/web/**"]
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    notes = cr["metadata"]["annotations"]
    stamp = notes["federation.scaivault.io/sync-requested-at"]
    assert stamp == reply.body["sync_requested_at"]
    assert json.loads(notes["federation.scaivault.io/sync-paths"]) == {
        "requestedAt": stamp,
        "paths": ["external/vault/db", "external/vault/web/**"],
    }
    # no operator acted on it yet: a second request adds its paths to the pending one
    again = await api.post(url, json={"paths": ["external/vault/api"]})
    assert again.status == 202 and again.body["paths"] == ["external/vault/api"]
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    pending = json.loads(cr["metadata"]["annotations"]["federation.scaivault.io/sync-paths"])
    assert pending["requestedAt"] == again.body["sync_requested_at"]
    assert set(pending["paths"]) == {
        "external/vault/db",
        "external/vault/web/**",
        "external/vault/api",
    }
    # a request of everything drops the paths (and an empty object is one)
    for body in (None, {}, {"paths": None}):
        full = await api.post(url, json=body) if body is not None else await api.post(url)
        assert full.status == 202 and "paths" not in full.body
        cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
        assert "federation.scaivault.io/sync-paths" not in cr["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"paths": []}, "paths"),
        ({"paths": "external/vault/db"}, "paths"),
        ({"paths": ["external/vault/db", "external//db"]}, "paths[1]"),
        ({"paths": ["/external/vault/db"]}, "paths[0]"),
        ({"paths": ["external/vault/db**x"]}, "paths[0]"),
        ({"paths": ["somewhere/else"]}, "paths[0]: 'somewhere/else' is not mapped"),
        ({"paths": ["other/**"]}, "paths[0]: 'other/**' is not mapped"),
        ({"paths": [f"external/vault/{i}" for i in range(101)]}, "paths"),
        ({"path": ["external/vault/db"]}, "path"),
    ],
)
async def test_manual_sync_paths_are_validated(
    api: ApiClient, ns: Namespace, body: dict[str, Any], message: str
) -> None:
    created = await create(api, ns)
    reply = await api.post(f"{FED}/backends/{created['id']}/sync", json=body)
    assert reply.status == 400, reply.body
    assert reply.error["field"] in ("paths", "path")
    assert reply.error["message"].startswith(message), reply.error
    cr = await ns.kube.get(f"{ns.backends()}/{created['name']}")
    assert "federation.scaivault.io/sync-requested-at" not in (
        cr["metadata"].get("annotations") or {}
    )
    not_json = await api.post(
        f"{FED}/backends/{created['id']}/sync",
        data="paths=a",
        headers={"Content-Type": "text/plain"},
    )
    assert not_json.status == 415
