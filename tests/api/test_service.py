"""The API as a service: its OpenAPI document, /healthz, /metrics, ``run_api`` for
``dev``, the ``api`` command, and the dev token helper."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_spec_validator import validate

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.server import ApiServer, run_api
from scaivault_federation.api.static_tokens import (
    Scope,
    StaticTokenError,
    StaticTokens,
    parse_static_tokens,
    write_dev_tokens,
)
from scaivault_federation.settings import Settings

from .conftest import API_NAMESPACE, Namespace
from .helpers import FED, ApiClient, vault_body

pytestmark = pytest.mark.e2e


def test_openapi_document_is_valid(openapi_doc: dict[str, Any]) -> None:
    validate(openapi_doc)
    assert openapi_doc["openapi"].startswith("3.1")
    schemas = openapi_doc["components"]["schemas"]
    status = schemas["StatusView"]["properties"]
    assert {"id", "name", "status", "last_sync", "last_sync_duration_ms"} <= set(status)
    assert set(schemas["BackendCreate"]["properties"]) >= {
        "name",
        "type",
        "config",
        "path_mapping",
        "mode",
        "sync_interval",
        "namespace",
    }
    assert "data_base64" in schemas["SecretView"]["properties"]


def test_every_route_is_documented(api_server: ApiServer, openapi_doc: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, item in openapi_doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for route in api_server.app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD":
            served.add((route.method, info))
    assert served == documented


async def test_healthz_and_metrics(api: ApiClient, ns: Namespace) -> None:
    health = await api.get("/healthz", token="")
    assert health.status == 200 and health.body == {"status": "ok"}
    await api.put("/v1/secrets/metrics/probe", params={"namespace": ns.name}, json={"data": {}})
    await api.get(f"{FED}/backends/fed_notthere")
    metrics = await api.get("/metrics", token="")
    text = metrics.raw.decode()
    assert 'route="/v1/secrets/{path}"' in text
    assert 'route="/v1/federation/backends/{id}",status="404"' in text
    assert "scaivault_api_request_duration_seconds_bucket" in text
    assert "metrics/probe" not in text and "fed_notthere" not in text


async def test_run_api_serves_until_cancelled(
    control_plane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    tokens = write_dev_tokens(tmp_path / "tokens.yaml")
    assert set(tokens) == {"admin", "read_only"}
    assert tokens["admin"] not in (tmp_path / "tokens.yaml").read_text()
    assert (tmp_path / "tokens.yaml").stat().st_mode & 0o077 == 0
    port = free_port()
    settings = Settings.load(
        api_host="127.0.0.1",
        api_port=port,
        api_default_namespace=API_NAMESPACE,
        api_static_tokens=tmp_path / "tokens.yaml",
        kubeconfig=str(control_plane.kubeconfig),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(run_api(settings, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{FED}/backends"
            for token, expected in ((tokens["admin"], 201), (tokens["read_only"], 403)):
                body = vault_body(f"dev-{expected}", "http://127.0.0.1:1", "x")
                headers = {"Authorization": f"Bearer {token}"}
                async with session.post(url, json=body, headers=headers) as resp:
                    assert resp.status == expected
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 200
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.done()
    with pytest.raises(OSError):  # the port is closed again
        await asyncio.open_connection("127.0.0.1", port)


def test_static_token_file_rules(tmp_path: Path) -> None:
    good = parse_static_tokens(
        yaml.safe_dump(
            {
                "tokens": [
                    {"name": "a", "token": "0123456789abcdef", "scopes": ["secrets:read"]},
                    {
                        "name": "b",
                        "token_sha256": "A" * 64,
                        "scopes": ["federation:read"],
                        "namespaces": ["x"],
                    },
                ]
            }
        )
    )
    assert {t.name for t in good.values()} == {"a", "b"}
    b = next(t for t in good.values() if t.name == "b")
    assert b.allows(Scope.FEDERATION_READ, "x") and not b.allows(Scope.FEDERATION_READ, "y")
    for bad in (
        "tokens: [{name: a, scopes: [federation:read]}]",
        "tokens: [{name: a, token: short, scopes: [federation:read]}]",
        "tokens: [{name: a, token: 0123456789abcdef, scopes: [admin]}]",
        "tokens: [{name: a, token: 0123456789abcdef, scopes: []}]",
        "tokens: {",
    ):
        with pytest.raises(StaticTokenError) as info:
            parse_static_tokens(bad)
        assert "0123456789abcdef" not in str(info.value)

    path = tmp_path / "t.yaml"
    write_dev_tokens(path)
    store = StaticTokens(path)
    assert store.lookup("nope") is None


def test_api_command(control_plane: ControlPlane, crd: None, tmp_path: Path) -> None:
    """``scaivault-federation api`` in its own process, stopped by SIGTERM."""
    tokens = write_dev_tokens(tmp_path / "tokens.yaml")
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)}
    argv = [
        sys.executable,
        "-m",
        "scaivault_federation.cli",
        "api",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--default-namespace={API_NAMESPACE}",
        f"--static-tokens={tmp_path / 'tokens.yaml'}",
    ]
    log = tmp_path / "api.log"
    proc = ManagedProcess("api", argv, log, env=env)
    proc.start()
    try:

        def healthy() -> bool:
            url = f"http://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)

        proc.wait_until(healthy, timeout=30, what="the api command to serve")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{FED}/backends",
            headers={"Authorization": f"Bearer {tokens['read_only']}"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            assert resp.status == 200
    finally:
        started = time.monotonic()
        proc.stop()
        assert time.monotonic() - started < 9
    assert proc.returncode == 0, proc.log_tail()
    assert tokens["admin"] not in log.read_text()
