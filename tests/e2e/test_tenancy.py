"""Tenancy end to end: the operator's own identity only where the settings allow it
(the session's operator allows its own namespace and ``AMBIENT_NAMESPACE``, and
has moto's keys as its "own" AWS identity), and link-local / metadata endpoints
refused by the operator and the API without ever being contacted."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from scaivault_devenv.moto import MotoServer
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from tests.backends.harness_aws import put_secret
from tests.conftest import AMBIENT_NAMESPACE

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e


class CountingServer:
    """An HTTP server on 127.0.0.1 that counts every request it gets."""

    def __init__(self) -> None:
        self.requests = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(status=500)


@pytest.fixture
async def counting() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def allowed_namespace(kube: KubeClient) -> AsyncIterator[Cluster]:
    with contextlib.suppress(Exception):
        await kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AMBIENT_NAMESPACE}},
        )
    yield Cluster(kube, AMBIENT_NAMESPACE)
    for item in (await kube.get(Cluster(kube, AMBIENT_NAMESPACE).backend_url())).get("items", []):
        with contextlib.suppress(NotFoundError):
            await kube.delete(
                Cluster(kube, AMBIENT_NAMESPACE).backend_url(item["metadata"]["name"])
            )


def ambient_spec(endpoint: str, region: str, prefix: str) -> dict[str, object]:
    return {
        "type": "aws-secrets-manager",
        "config": {"region": region, "endpoint": endpoint},  # no credentialsPath
        "pathMapping": {"ambient/**": f"{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
    }


async def test_ambient_identity_is_refused_outside_allowed_namespaces_without_a_call(
    cluster: Cluster, counting: CountingServer
) -> None:
    await cluster.create_backend("ambient", ambient_spec(counting.url, "us-east-1", "p"))
    status = await cluster.wait_status("ambient", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    assert "may not use" in ready["message"] and "ambient_identity_namespaces" in ready["message"]
    assert counting.requests == 0


async def test_the_same_spec_syncs_in_an_allowed_namespace(
    allowed_namespace: Cluster, moto_server: MotoServer
) -> None:
    prefix = f"amb-{uuid.uuid4().hex[:6]}"
    put_secret(moto_server.client("secretsmanager"), f"{prefix}/db", "ambient-value")
    name = f"ambient-{uuid.uuid4().hex[:4]}"
    await allowed_namespace.create_backend(
        name, ambient_spec(moto_server.endpoint, moto_server.region, prefix)
    )
    status = await allowed_namespace.wait_status(name, lambda s: s.get("status") == "healthy")
    assert status["secretsSynced"] == 1
    secret = await allowed_namespace.secret("ambient-db")
    assert secret is not None and decoded(secret) == {"value": "ambient-value"}


async def test_a_metadata_endpoint_is_refused_before_credentials_are_read(
    cluster: Cluster,
) -> None:
    await cluster.create_backend(
        "metadata",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": "http://169.254.169.254", "authConfigPath": "no/such-secret"},
            "pathMapping": {"m/**": "secret/data/m/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )
    status = await cluster.wait_status("metadata", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    assert "link-local or cloud metadata" in ready["message"]
    assert "not found" not in ready["message"]  # refused before the credentials were read
