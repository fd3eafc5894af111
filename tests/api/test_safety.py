"""No secret value, token or stack trace in an error body or a log line of the API."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.api.errors import error_middleware

from .conftest import CANARY_TOKEN, LogCapture, Namespace, Tokens
from .helpers import FED, ApiClient, vault_body
from .test_secrets import put_token_secret

pytestmark = pytest.mark.e2e

SECRET_CANARY = "canary-value-" + uuid.uuid4().hex
VAULT_TOKEN_CANARY = "s.canary-vault-token-" + uuid.uuid4().hex[:12]
UNKNOWN_TOKEN_CANARY = "canary-unknown-bearer-" + uuid.uuid4().hex


def assert_clean(text: str) -> None:
    for canary in (SECRET_CANARY, VAULT_TOKEN_CANARY, UNKNOWN_TOKEN_CANARY, CANARY_TOKEN):
        assert canary not in text
    assert "Traceback" not in text


async def test_canaries_never_leak(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer, tok: Tokens, api_log: LogCapture
) -> None:
    client = api.with_token(tok.canary)
    prefix = f"canary-{uuid.uuid4().hex[:8]}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": SECRET_CANARY}})
    await put_token_secret(ns, openbao.root_token)
    body = vault_body("proxy", openbao.address, prefix, mode="proxy", sync_interval=None)
    body["namespace"] = ns.name
    created = await client.post(f"{FED}/backends", json=body)
    assert created.status == 201
    params = {"namespace": ns.name}
    url = "/v1/secrets/external/vault/db"
    read = await client.get(url, params=params)
    assert read.status == 200 and read.body["data"] == {"pw": SECRET_CANARY}

    errors = [
        await client.put(url, params=params, json={"data": {"pw": SECRET_CANARY}}),
        await client.put(
            "/v1/secrets/l/x", params=params, json={"data": {"bad key": SECRET_CANARY}}
        ),
        await client.put("/v1/secrets/l/x", params=params, json={"data": {"k": [SECRET_CANARY]}}),
        await client.put(
            "/v1/secrets/l/x", params=params, json={"data": {}, "data_base64": {"k": SECRET_CANARY}}
        ),
        await client.put(
            "/v1/secrets/l/x", params=params, json={"data": {}, "other": SECRET_CANARY}
        ),
        await client.post(
            f"{FED}/backends",
            json={**body, "name": "x2", "config": {**body["config"], "token": SECRET_CANARY}},
        ),
        await client.patch(
            f"{FED}/backends/{created.body['id']}", json={"config": {"kv_version": SECRET_CANARY}}
        ),
        await client.patch(f"{FED}/backends/{created.body['id']}", json={"name": SECRET_CANARY}),
        await api.get(f"{FED}/backends", token=UNKNOWN_TOKEN_CANARY),
        await api.get(url, token=tok.read_only, params=params),
    ]
    assert all(r.status >= 400 for r in errors), [r.status for r in errors]

    # a backend whose credentials are rejected: the credential stays out of the answer
    await ns.kube.delete(f"{ns.secrets()}/creds-vault-token")
    await put_token_secret(ns, VAULT_TOKEN_CANARY)
    await client.patch(f"{FED}/backends/{created.body['id']}", json={"prune": True})
    rejected = await client.get(url, params=params)
    assert rejected.status == 502
    errors.append(rejected)

    for reply in errors:
        assert_clean(reply.raw.decode())
        assert_clean(str(dict(reply.headers)))
    assert_clean("\n".join(api_log.lines))


async def test_unexpected_failures_are_a_generic_500() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError(f"failed while holding {SECRET_CANARY}")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/boom/{thing}", broken)
    server = TestServer(app, host="127.0.0.1")
    capture = LogCapture()
    logger = logging.getLogger("scaivault_federation.api.errors")
    logger.addHandler(capture)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.make_url("/boom/abc")) as resp,
        ):
            body: Any = await resp.json()
            assert resp.status == 500
        assert body == {"error": {"code": "internal_error", "message": "internal error"}}
        logged = "\n".join(capture.lines)
        assert "RuntimeError" in logged and "/boom/{thing}" in logged
        assert_clean(logged)
    finally:
        logger.removeHandler(capture)
        await server.close()
