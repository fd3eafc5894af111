"""Who may do what: static tokens with scopes, and Kubernetes tokens checked by the
real apiserver (TokenReview + SubjectAccessReview)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from scaivault_devenv.processes import free_port
from scaivault_federation.api.server import ApiServer
from tests.api_server import started_api

from .conftest import API_NAMESPACE, RESTRICTED_NAMESPACE, Namespace, Tokens
from .helpers import FED, ApiClient, cluster_role_token, service_account_token, vault_body

pytestmark = pytest.mark.e2e

ADDRESS = "http://127.0.0.1:1"
FEDB = ("federation.scaivault.io", "federationbackends")
SECRETS = ("", "secrets")


def body(ns: str) -> dict[str, Any]:
    return vault_body(f"b-{uuid.uuid4().hex[:6]}", ADDRESS, "p", namespace=ns)


async def make_backend(api: ApiClient, ns: str) -> dict[str, Any]:
    reply = await api.post(f"{FED}/backends", json=body(ns))
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.body
    return result


async def every_endpoint(api: ApiClient, backend_id: str, ns: str) -> list[int]:
    """One call to each protected endpoint; the statuses."""
    url = f"{FED}/backends/{backend_id}"
    secret = "/v1/secrets/auth/check"
    params = {"namespace": ns}
    replies = [
        await api.get(f"{FED}/backends"),
        await api.post(f"{FED}/backends", json=body(ns)),
        await api.get(url),
        await api.patch(url, json={"prune": True}),
        await api.get(url + "/status"),
        await api.get(url + "/conflicts"),
        await api.post(url + "/sync"),
        await api.delete(url),
        await api.get(secret, params=params),
        await api.put(secret, params=params, json={"data": {"k": "v"}}),
        await api.delete(secret, params=params),
    ]
    return [r.status for r in replies]


async def test_no_token_or_a_bad_token_is_401(api: ApiClient, ns: Namespace) -> None:
    created = await make_backend(api, ns.name)
    for token in ("", "not-a-valid-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"):
        anonymous = api.with_token(token or None)
        statuses = await every_endpoint(anonymous, created["id"], ns.name)
        assert statuses == [401] * len(statuses), (token, statuses)
    reply = await api.get(f"{FED}/backends", token="", headers={"Authorization": "Basic eDp5"})
    assert reply.status == 401
    assert reply.error["code"] == "unauthenticated"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_public_endpoints_need_no_token(api: ApiClient) -> None:
    anonymous = api.with_token(None)
    assert (await anonymous.get("/healthz")).status == 200
    assert (await anonymous.get("/metrics")).status == 200
    assert (await anonymous.get(f"{FED}/openapi.json")).status == 200


async def test_static_read_only(api: ApiClient, ns: Namespace, tok: Tokens) -> None:
    created = await make_backend(api, ns.name)
    reader = api.with_token(tok.read_only)
    statuses = await every_endpoint(reader, created["id"], ns.name)
    #          list  post get  patch status confl sync del  sGET sPUT sDEL
    assert statuses == [200, 403, 200, 403, 200, 200, 403, 403, 403, 403, 403]
    denied = await reader.post(f"{FED}/backends", json=body(ns.name))
    assert denied.error["code"] == "forbidden"
    assert "federation:write" in denied.error["message"]


async def test_static_federation_writer(api: ApiClient, ns: Namespace, tok: Tokens) -> None:
    created = await make_backend(api, ns.name)
    writer = api.with_token(tok.fed_write)
    statuses = await every_endpoint(writer, created["id"], ns.name)
    # (the new backend names a credentials Secret, which needs secrets:read: test_delegation)
    assert statuses == [200, 403, 200, 200, 200, 200, 202, 204, 403, 403, 403]


async def test_static_secrets_only(api: ApiClient, ns: Namespace, tok: Tokens) -> None:
    created = await make_backend(api, ns.name)
    secrets = api.with_token(tok.secrets_rw)
    statuses = await every_endpoint(secrets, created["id"], ns.name)
    assert statuses == [403, 403, 403, 403, 403, 403, 403, 403, 404, 201, 204]


async def test_static_token_limited_to_a_namespace(api: ApiClient, tok: Tokens) -> None:
    inside = await make_backend(api, RESTRICTED_NAMESPACE)
    outside = await make_backend(api, API_NAMESPACE)
    limited = api.with_token(tok.restricted)
    listed = await limited.get(f"{FED}/backends")
    assert listed.status == 200
    assert {b["namespace"] for b in listed.body["backends"]} == {RESTRICTED_NAMESPACE}
    assert inside["id"] in {b["id"] for b in listed.body["backends"]}
    assert (await limited.get(f"{FED}/backends/{inside['id']}")).status == 200
    assert (await limited.get(f"{FED}/backends/{outside['id']}")).status == 403
    other = await limited.get(f"{FED}/backends", params={"namespace": API_NAMESPACE})
    assert other.status == 403
    assert (await limited.post(f"{FED}/backends", json=body(API_NAMESPACE))).status == 403
    assert (await limited.get("/v1/secrets/x")).status == 403  # the default namespace
    put = await limited.put(
        "/v1/secrets/x", params={"namespace": RESTRICTED_NAMESPACE}, json={"data": {"a": "b"}}
    )
    assert put.status in (200, 201)
    for created in (inside, outside):
        assert (await api.delete(f"{FED}/backends/{created['id']}")).status == 204


async def test_kubernetes_read_only_service_account(api: ApiClient, ns: Namespace) -> None:
    created = await make_backend(api, ns.name)
    token = await service_account_token(ns.kube, ns.name, {FEDB: ["get", "list"]})
    reader = api.with_token(token)
    statuses = await every_endpoint(reader, created["id"], ns.name)
    assert statuses == [200, 403, 200, 403, 200, 200, 403, 403, 403, 403, 403]
    listed = await reader.get(f"{FED}/backends")
    assert {b["namespace"] for b in listed.body["backends"]} == {ns.name}
    # its permissions end at its namespace
    elsewhere = await make_backend(api, API_NAMESPACE)
    assert (await reader.get(f"{FED}/backends/{elsewhere['id']}")).status == 403
    assert (await api.delete(f"{FED}/backends/{elsewhere['id']}")).status == 204


async def test_kubernetes_writer_service_account(api: ApiClient, ns: Namespace) -> None:
    created = await make_backend(api, ns.name)
    verbs = {FEDB: ["get", "list", "create", "patch", "delete"], SECRETS: ["get"]}
    token = await service_account_token(ns.kube, ns.name, verbs)
    writer = api.with_token(token)
    statuses = await every_endpoint(writer, created["id"], ns.name)
    assert statuses == [200, 201, 200, 200, 200, 200, 202, 204, 404, 403, 403]
    elsewhere = await writer.post(f"{FED}/backends", json=body(API_NAMESPACE))
    assert elsewhere.status == 403


async def test_kubernetes_secret_writer(api: ApiClient, ns: Namespace) -> None:
    verbs = {SECRETS: ["get", "create", "update", "delete"]}
    writer = api.with_token(await service_account_token(ns.kube, ns.name, verbs))
    url, params = "/v1/secrets/team/app", {"namespace": ns.name}
    assert (await writer.put(url, params=params, json={"data": {"k": "1"}})).status == 201
    assert (await writer.put(url, params=params, json={"data": {"k": "2"}})).status == 200
    got = await writer.get(url, params=params)
    assert got.status == 200 and got.body["data"] == {"k": "2"}
    assert (await writer.delete(url, params=params)).status == 204
    creator_only = {SECRETS: ["get", "create"]}
    limited = api.with_token(await service_account_token(ns.kube, ns.name, creator_only))
    # PUT may replace, so it needs both create and update
    assert (await limited.put(url, params=params, json={"data": {"k": "1"}})).status == 403


async def test_decisions_are_cached(api: ApiClient, ns: Namespace, api_server: ApiServer) -> None:
    token = await service_account_token(ns.kube, ns.name, {FEDB: ["get", "list"]})
    reader = api.with_token(token)
    params = {"namespace": ns.name}
    assert (await reader.get(f"{FED}/backends", params=params)).status == 200
    before = api_server.kube.total_requests()
    for _ in range(5):
        assert (await reader.get(f"{FED}/backends", params=params)).status == 200
    assert api_server.kube.total_requests() == before
    bad = api.with_token("definitely-not-a-token")
    assert (await bad.get(f"{FED}/backends")).status == 401
    before = api_server.kube.total_requests()
    assert (await bad.get(f"{FED}/backends")).status == 401
    assert api_server.kube.total_requests() == before


async def test_one_cluster_wide_review_serves_every_namespace(
    api: ApiClient, ns: Namespace, api_server: ApiServer
) -> None:
    """A caller bound cluster-wide is asked once, without a namespace: reading backends
    of other namespaces then costs no review."""
    ids = [
        (await make_backend(api, n))["id"] for n in (ns.name, API_NAMESPACE, RESTRICTED_NAMESPACE)
    ]
    reader = api.with_token(await cluster_role_token(ns.kube, ns.name, {FEDB: ["get", "list"]}))
    assert (await reader.get(f"{FED}/backends/{ids[0]}")).status == 200
    before = api_server.kube.total_requests()
    for other in ids[1:]:
        assert (await reader.get(f"{FED}/backends/{other}")).status == 200
    assert api_server.kube.total_requests() == before
    for ident in ids:
        assert (await api.delete(f"{FED}/backends/{ident}")).status == 204


async def test_failed_authentications_are_limited_per_client(
    api_server: ApiServer, api: ApiClient, tok: Tokens
) -> None:
    """Past a few tokens that are not valid, a client is answered 429 with Retry-After
    before its token costs a TokenReview; static tokens still work."""
    limits = {"port": free_port(), "auth_failure_burst": 3, "auth_failure_rate": 0.01}
    settings = api_server.settings.model_copy(
        update={"api": api_server.settings.api.model_copy(update=limits)}
    )
    async with started_api(settings) as limited:
        client = ApiClient(api.session, limited.url, api.checker)
        for _ in range(3):
            reply = await client.get(f"{FED}/backends", token=f"random-{uuid.uuid4().hex}")
            assert reply.status == 401
        before = limited.kube.total_requests()
        throttled = await client.get(f"{FED}/backends", token=f"random-{uuid.uuid4().hex}")
        assert throttled.status == 429, throttled.body
        assert throttled.error["code"] == "too_many_requests"
        assert int(throttled.headers["Retry-After"]) >= 1
        assert limited.kube.total_requests() == before  # no TokenReview
        assert (await client.get(f"{FED}/backends", token=tok.admin)).status == 200
