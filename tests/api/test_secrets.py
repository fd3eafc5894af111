"""``/v1/secrets/{path}``: local, synced and proxied paths against real servers."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.labels import credentials_labels
from scaivault_federation.paths import secret_name_for_path

from .conftest import Namespace
from .helpers import FED, ApiClient, eventually, vault_body

pytestmark = pytest.mark.e2e


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def put_token_secret(ns: Namespace, token: str) -> None:
    await ns.kube.post(
        ns.secrets(),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds-vault-token", "labels": credentials_labels()},
            "data": {"token": b64(token)},
        },
    )


async def vault_backend(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer, prefix: str, **extra: Any
) -> dict[str, Any]:
    body = vault_body(f"vault-{uuid.uuid4().hex[:6]}", openbao.address, prefix, **extra)
    body["namespace"] = ns.name
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.body
    return result


async def test_local_secret_lifecycle(api: ApiClient, ns: Namespace) -> None:
    url, params = "/v1/secrets/team/app/db", {"namespace": ns.name}
    assert (await api.get(url, params=params)).status == 404
    created = await api.put(url, params=params, json={"data": {"user": "app", "pw": "s3cret"}})
    assert created.status == 201
    assert created.body == {
        "path": "team/app/db",
        "data": {"user": "app", "pw": "s3cret"},
        "source": "local",
        "backend_id": None,
    }
    secret = await ns.kube.get(f"{ns.secrets()}/{secret_name_for_path('team/app/db')}")
    assert secret["metadata"]["annotations"]["federation.scaivault.io/path"] == "team/app/db"
    assert secret["data"] == {"user": b64("app"), "pw": b64("s3cret")}

    replaced = await api.put(url, params=params, json={"data": {"pw": "rotated"}})
    assert replaced.status == 200
    got = await api.get(url, params=params)
    assert got.status == 200 and got.body["data"] == {"pw": "rotated"}
    assert got.body["source"] == "local" and got.body["backend_id"] is None

    assert (await api.delete(url, params=params)).status == 204
    assert (await api.get(url, params=params)).status == 404
    assert (await api.delete(url, params=params)).status == 404


async def test_binary_values_travel_as_base64(api: ApiClient, ns: Namespace) -> None:
    url, params = "/v1/secrets/certs/Key.p12", {"namespace": ns.name}
    raw = bytes(range(256))
    body = {"data": {"alias": "tls"}, "data_base64": {"key.p12": base64.b64encode(raw).decode()}}
    assert (await api.put(url, params=params, json=body)).status == 201
    got = await api.get(url, params=params)
    assert got.body["data"] == {"alias": "tls"}
    assert base64.b64decode(got.body["data_base64"]["key.p12"]) == raw
    name = secret_name_for_path("certs/Key.p12")
    assert name != "certs-key-p12"  # lossy, so it carries a hash suffix
    assert (await ns.kube.get(f"{ns.secrets()}/{name}"))["data"]["key.p12"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "data"),
        ({"data": {"bad key!": "v"}}, "data"),
        ({"data": {"k": 1}}, "data.k"),
        ({"data": {"k": "v"}, "extra": True}, "extra"),
        ({"data": {}, "data_base64": {"k": "***"}}, "data_base64"),
        ({"data": {"k": "v"}, "data_base64": {"k": "dg=="}}, "data_base64.k"),
    ],
)
async def test_invalid_writes(api: ApiClient, body: dict[str, Any], field: str) -> None:
    reply = await api.put("/v1/secrets/some/path", json=body)
    assert reply.status == 400, reply.body
    assert reply.error["field"] == field


async def test_invalid_paths_and_media_types(api: ApiClient) -> None:
    # a leaf no other test (nor the API fuzzer) writes, so a traversal that the
    # server normalises away can only find nothing
    leaf = f"never-written-{uuid.uuid4().hex}"
    for path in ("a/*/b", "a/%01/b", f"a/%2E%2E/{leaf}"):
        reply = await api.get(f"/v1/secrets/{path}", check=False)
        assert reply.status in (400, 404), (path, reply.status)
        if reply.status == 400:
            assert reply.error["field"] == "path"
    star = await api.get("/v1/secrets/a/*/b")
    assert star.status == 400 and star.error["field"] == "path"
    text = await api.put("/v1/secrets/a/b", data="v", headers={"Content-Type": "text/plain"})
    assert text.status == 415


async def test_collisions_and_managed_secrets_are_not_overwritten(
    api: ApiClient, ns: Namespace
) -> None:
    params = {"namespace": ns.name}
    # "a-b" and "a/b" share a Secret name; the annotation tells them apart
    assert secret_name_for_path("a-b") == secret_name_for_path("a/b")
    assert (await api.put("/v1/secrets/a/b", params=params, json={"data": {"k": "1"}})).status
    collision = await api.put("/v1/secrets/a-b", params=params, json={"data": {"k": "2"}})
    assert collision.status == 409 and collision.error["code"] == "path_collision"
    assert (await api.get("/v1/secrets/a-b", params=params)).status == 404
    assert (await api.delete("/v1/secrets/a-b", params=params)).status == 409
    assert (await api.get("/v1/secrets/a/b", params=params)).body["data"] == {"k": "1"}

    await ns.kube.post(
        ns.secrets(),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "synced-thing",
                "labels": {
                    "app.kubernetes.io/managed-by": "scaivault-federation",
                    "federation.scaivault.io/backend": "gone",
                },
                "annotations": {"federation.scaivault.io/path": "synced/thing"},
            },
            "data": {"k": b64("remote")},
        },
    )
    managed = await api.put("/v1/secrets/synced/thing", params=params, json={"data": {"k": "x"}})
    assert managed.status == 409 and managed.error["code"] == "managed_secret"
    assert (await api.delete("/v1/secrets/synced/thing", params=params)).status == 409
    orphan = await api.get("/v1/secrets/synced/thing", params=params)
    assert orphan.body["source"] == "local" and orphan.body["data"] == {"k": "remote"}


async def test_synced_path(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer, operator: ManagedProcess
) -> None:
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "pw-1"}})
    await put_token_secret(ns, openbao.root_token)
    backend = await vault_backend(api, ns, openbao, prefix)
    url, params = "/v1/secrets/external/vault/db", {"namespace": ns.name}

    async def synced() -> Any:
        reply = await api.get(url, params=params)
        return reply if reply.status == 200 else None

    got = await eventually(synced, timeout=60, what="the synced secret")
    assert got.body == {
        "path": "external/vault/db",
        "data": {"password": "pw-1"},
        "source": "sync",
        "backend_id": backend["id"],
    }
    missing = await api.get("/v1/secrets/external/vault/none", params=params)
    assert missing.status == 404 and "synced" in missing.error["message"]
    for reply in (
        await api.put(url, params=params, json={"data": {"password": "local"}}),
        await api.delete(url, params=params),
        await api.put("/v1/secrets/external/vault/new", params=params, json={"data": {}}),
    ):
        assert reply.status == 409 and reply.error["code"] == "synced_path"

    async def recorded() -> Any:
        status = await api.get(f"{FED}/backends/{backend['id']}/status")
        return status if status.body["status"] == "healthy" else None

    status = await eventually(recorded, timeout=30, what="the sync to be recorded")
    assert status.body["secrets_synced"] == 1


async def test_a_shaped_synced_path_through_the_api_in_snake_case(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer, operator: ManagedProcess
) -> None:
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    data = {"data": {"cert": "C", "key": "K"}}
    openbao.request("POST", f"/v1/secret/data/{prefix}/web", data)
    await put_token_secret(ns, openbao.root_token)
    target = {
        "type": "kubernetes.io/tls",
        "name": "{{ captures[0] | replace('/', '-') }}-tls",
        "refresh_policy": "Periodic",
        "data": {"rename": {"cert": "tls.crt", "key": "tls.key"}},
    }
    backend = await vault_backend(api, ns, openbao, prefix, target=target)
    assert backend["target"] == target
    bad = await api.patch(
        f"{FED}/backends/{backend['id']}",
        json={"target": {"data": {"rename": {"cert": "tls/crt"}}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert bad.status == 400 and bad.error["field"] == "target.data.rename", bad.body
    url, params = "/v1/secrets/external/vault/web", {"namespace": ns.name}

    async def synced() -> Any:
        reply = await api.get(url, params=params)
        return reply if reply.status == 200 else None

    got = await eventually(synced, timeout=60, what="the synced secret")
    assert got.body["data"] == {"tls.crt": "C", "tls.key": "K"}
    assert got.body["source"] == "sync"
    secret = await ns.kube.get(f"{ns.secrets()}/web-tls")
    assert secret["type"] == "kubernetes.io/tls"


async def test_proxied_path_reads_through(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer
) -> None:
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    write = f"/v1/secret/data/{prefix}/svc/token"
    openbao.request("POST", write, {"data": {"token": "t-1"}})
    await put_token_secret(ns, openbao.root_token)
    backend = await vault_backend(api, ns, openbao, prefix, mode="proxy", sync_interval=None)
    url, params = "/v1/secrets/external/vault/svc/token", {"namespace": ns.name}
    got = await api.get(url, params=params)
    assert got.status == 200, got.body
    assert got.body == {
        "path": "external/vault/svc/token",
        "data": {"token": "t-1"},
        "source": "proxy",
        "backend_id": backend["id"],
    }
    openbao.request("POST", write, {"data": {"token": "t-2"}})
    assert (await api.get(url, params=params)).body["data"] == {"token": "t-2"}

    missing = await api.get("/v1/secrets/external/vault/svc/none", params=params)
    assert missing.status == 404
    for reply in (
        await api.put(url, params=params, json={"data": {"token": "local"}}),
        await api.delete(url, params=params),
    ):
        assert reply.status == 409 and reply.error["code"] == "proxied_path"
    # no Secret was ever written for a proxied path
    secrets = await ns.kube.get(ns.secrets())
    assert [s["metadata"]["name"] for s in secrets["items"]] == ["creds-vault-token"]

    suspended = await api.patch(f"{FED}/backends/{backend['id']}", json={"suspend": True})
    assert suspended.status == 200
    paused = await api.get(url, params=params)
    assert paused.status == 503 and paused.error["code"] == "backend_suspended"
    assert int(paused.headers["Retry-After"]) > 0


async def test_proxy_backend_down_is_503_with_retry_after(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer
) -> None:
    await put_token_secret(ns, openbao.root_token)
    body = vault_body("down", f"http://127.0.0.1:{free_port()}", "x", mode="proxy")
    body.pop("sync_interval")
    body["namespace"] = ns.name
    assert (await api.post(f"{FED}/backends", json=body)).status == 201
    reply = await api.get("/v1/secrets/external/vault/a", params={"namespace": ns.name})
    assert reply.status == 503, reply.body
    assert reply.error["code"] == "backend_unavailable"
    assert int(reply.headers["Retry-After"]) >= 1


async def test_proxy_with_rejected_credentials_is_502(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer
) -> None:
    await put_token_secret(ns, "s.wrong-token")
    await vault_backend(api, ns, openbao, "x", mode="proxy", sync_interval=None)
    reply = await api.get("/v1/secrets/external/vault/a", params={"namespace": ns.name})
    assert reply.status == 502 and reply.error["code"] == "backend_auth_failed"
    # a missing credentials Secret is a configuration problem of the backend
    await ns.kube.delete(f"{ns.secrets()}/creds-vault-token")
    reply = await api.get("/v1/secrets/external/vault/a", params={"namespace": ns.name})
    assert reply.status == 502 and reply.error["code"] == "backend_misconfigured"
