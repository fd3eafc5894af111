"""Keyless cloud identity per namespace, end to end: the operator (its own process) and
the API log in to AWS, Azure and Google as a ServiceAccount of each backend's
namespace, whose token the cloud's emulated token exchange verifies against the test
apiserver's OIDC discovery and keys. No credentials Secret exists anywhere.

- Two namespaces, each with its own opted-in ServiceAccount mapped to a different
  cloud identity reading a different prefix: each syncs its own prefix and is denied
  the other's.
- An account without the opt-in, and an account of another namespace, are refused
  with their own reasons, and a Vault login asking for a cloud's exchange audience or
  the apiserver's is refused, each before any request to the cloud or the backend.
- With credentials living 60 s, backends keep syncing across three expiries with one
  exchange per window.
- Proxied reads through the API share one exchange per account.
- A ClusterFederationBackend logs in as an account of the operator's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.static_tokens import Scope, write_static_tokens
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import MANAGED_BY, MANAGED_BY_VALUE
from scaivault_federation.settings import Settings
from tests.api_server import started_api
from tests.keyless import lend_account
from tests.keyless_clouds import CLOUDS, GoogleCloud, KeylessCloud

from .fleet import Fleet
from .helpers import Cluster, decoded, eventually
from .listeners import Listener, listening

pytestmark = pytest.mark.e2e

#: the credentials' lifetime of the refresh case, and how many expiries it crosses
LIFETIME = 60
EXPIRIES = 3


def make_cloud(request: pytest.FixtureRequest, short: str) -> KeylessCloud:
    kind = CLOUDS[short]
    control_plane: ControlPlane = request.getfixturevalue("control_plane")
    return kind(request.getfixturevalue(kind.server_fixture), control_plane)


@pytest.fixture(params=sorted(CLOUDS))
def cloud(request: pytest.FixtureRequest) -> KeylessCloud:
    return make_cloud(request, request.param)


@pytest.fixture
async def other(kube: KubeClient, operator: ManagedProcess) -> AsyncIterator[Cluster]:
    """A second namespace of the test's own."""
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    await kube.post("/api/v1/namespaces", body)
    yield Cluster(kube, namespace)
    with contextlib.suppress(NotFoundError):
        await kube.delete(f"/api/v1/namespaces/{namespace}")


def spec(
    cloud: KeylessCloud, account: str, local: str, remote: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": cloud.backend_type,
        "config": cloud.config(account),
        "pathMapping": {f"{local}/**": f"{remote}**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }


async def healthy(cluster: Cluster, name: str, timeout: float = 60) -> dict[str, Any]:
    """The backend's status once healthy; else fail showing its last one."""
    try:
        return await cluster.wait_status(name, lambda s: s.get("status") == "healthy", timeout)
    except AssertionError:
        raise AssertionError(f"{name} is not healthy: {await cluster.status(name)}") from None


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == "Ready")


def tenant(
    cloud: KeylessCloud, cluster: Cluster, seconds: int = 3600, account: str = "reader"
) -> tuple[str, str]:
    """The namespace's ``account``, opted in for every backend of the namespace and
    naming an identity that reads ``<namespace>/``; its secret ``<namespace>/db``.
    Returns the identity and the prefix."""
    prefix = f"{cluster.namespace}/"
    identity, annotations = cloud.grant(cluster.namespace, account, prefix, seconds)
    lend_account(cloud.cp, cluster.namespace, account, annotations)
    cloud.put(f"{prefix}db", f"value of {cluster.namespace}")
    return identity, prefix


async def no_credentials_anywhere(*clusters: Cluster) -> None:
    """Every Secret of the namespaces is one the operator synced."""
    for cluster in clusters:
        for secret in await cluster.secrets():
            labels = secret["metadata"].get("labels") or {}
            assert labels.get(MANAGED_BY) == MANAGED_BY_VALUE, secret["metadata"]["name"]


async def test_each_namespace_syncs_its_own_prefix_and_is_denied_the_others(
    cluster: Cluster, other: Cluster, cloud: KeylessCloud
) -> None:
    cloud.server.reset_exchanges()
    identities = {}
    for each in (cluster, other):
        identity, prefix = tenant(cloud, each)
        identities[each.namespace] = identity
        await each.create_backend("own", spec(cloud, "reader", "keyless", prefix))
    # the first namespace's account, mapping the second's prefix
    await cluster.create_backend("steal", spec(cloud, "reader", "stolen", f"{other.namespace}/"))
    for each in (cluster, other):
        status = await healthy(each, "own")
        assert status["secretsSynced"] == 1
        secret = await each.secret("keyless-db")
        assert secret is not None
        assert decoded(secret) == {"value": f"value of {each.namespace}"}
    stolen = await cluster.wait_status(
        "steal", lambda s: s.get("status") in ("error", "degraded"), 60
    )
    print(f"{cloud.short}: the other namespace's prefix: {stolen['status']}, {ready(stolen)}")
    # its listing is allowed, its read denied: the path fails, nothing is written
    assert ready(stolen)["reason"] == "PartialSync"
    assert "denied" in ready(stolen)["message"].lower()
    assert await cluster.secret("stolen-db") is None
    await no_credentials_anywhere(cluster, other)
    exchanges = cloud.exchanges()
    print(f"{cloud.short}: exchanges {exchanges}")
    assert exchanges["refused"] == {}  # every token the cloud got was valid for it
    for identity in identities.values():
        assert exchanges["granted"].get(identity, 0) >= 1


async def test_each_refusal_has_its_own_reason_and_calls_nothing(
    cluster: Cluster, other: Cluster, cloud: KeylessCloud, control_plane: ControlPlane
) -> None:
    _, prefix = tenant(cloud, cluster)
    _, annotations = cloud.grant(other.namespace, "elsewhere", f"{other.namespace}/")
    lend_account(control_plane, cluster.namespace, "no-consent", annotations, token_for=None)
    lend_account(control_plane, other.namespace, "elsewhere", annotations)
    cloud.server.reset_exchanges()
    async with listening() as vault:
        cases = {
            "no-consent": (spec(cloud, "no-consent", "a", prefix), "ServiceAccountNotOptedIn"),
            "elsewhere": (spec(cloud, "elsewhere", "b", prefix), "ServiceAccountNotFound"),
            "cloud-audience": (
                vault_jwt(vault, exchange_audience(cloud), "c"),
                "InvalidConfig",
            ),
            "apiserver-audience": (
                vault_jwt(vault, control_plane.service_account_issuer, "d"),
                "InvalidConfig",
            ),
        }
        for name, (body, _) in cases.items():
            await cluster.create_backend(name, body)
        for name, (_, reason) in cases.items():
            status = await cluster.wait_status(name, lambda s: s.get("status") == "error", 60)
            print(f"{cloud.short}: {name}: {ready(status)['reason']}: {ready(status)['message']}")
            assert ready(status)["reason"] == reason, (name, ready(status))
        assert vault.requests == 0
    assert cloud.exchanges() == {"granted": {}, "refused": {}}
    await no_credentials_anywhere(cluster)


def vault_jwt(listener: Listener, audience: str, local: str) -> dict[str, Any]:
    """A Vault jwt login with the opted-in account's token for ``audience``, at an
    endpoint its author chose."""
    return {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": listener.url,
            "authMethod": "jwt",
            "role": "r",
            "serviceAccount": "reader",
            "audience": audience,
        },
        "pathMapping": {f"{local}/**": "secret/data/x/**"},
        "mode": "sync",
        "syncInterval": "10m",
    }


def exchange_audience(cloud: KeylessCloud) -> str:
    if isinstance(cloud, GoogleCloud):
        return cloud.provider
    return {"aws": "sts.amazonaws.com", "azure": "api://AzureADTokenExchange"}[cloud.short]


@pytest.fixture
def short_lived(request: pytest.FixtureRequest) -> Iterator[list[KeylessCloud]]:
    clouds = [make_cloud(request, short) for short in sorted(CLOUDS)]
    for each in clouds:
        each.short_lived(LIFETIME)
    try:
        yield clouds
    finally:
        for each in clouds:
            each.short_lived(None)


async def test_credentials_are_renewed_across_three_expiries_once_per_window(
    cluster: Cluster, short_lived: list[KeylessCloud]
) -> None:
    """Every cloud at once, so the expiries pass once for all three."""
    identities = {}
    for each in short_lived:
        account = f"reader-{each.short}"  # each account names one cloud's identity
        identity, prefix = tenant(each, cluster, LIFETIME, account)
        identities[each.short] = identity
        each.server.reset_exchanges()
        body = spec(each, account, each.short, prefix, syncInterval="10s")
        await cluster.create_backend(each.short, body)
    started = time.monotonic()
    for each in short_lived:
        await healthy(cluster, each.short)
    # the backends sync every 10 s while three lifetimes pass; none may fail meanwhile
    while time.monotonic() - started < EXPIRIES * LIFETIME + 15:
        for each in short_lived:
            status = await cluster.status(each.short)
            assert status.get("status") == "healthy", (each.short, ready(status))
        await asyncio.sleep(5)
    # and a change made now is still read
    for each in short_lived:
        each.put(f"{cluster.namespace}/db", f"renewed {each.short}")

    async def renewed() -> bool:
        for each in short_lived:
            secret = await cluster.secret(f"{each.short}-db")
            if secret is None or decoded(secret) != {"value": f"renewed {each.short}"}:
                return False
        return True

    await eventually(renewed, 30, "the changed values")
    elapsed = time.monotonic() - started
    # a 60 s credential is renewed when a quarter of its life is left: every 45 s
    windows = math.ceil(elapsed / (LIFETIME * 0.75))
    for each in short_lived:
        exchanges = each.exchanges()
        count = exchanges["granted"].get(identities[each.short], 0)
        print(f"{each.short}: {count} exchanges in {elapsed:.0f} s ({windows} windows)")
        assert exchanges["refused"] == {}
        assert EXPIRIES + 1 <= count <= windows + 1, exchanges


@pytest.fixture
async def keyless_api(
    control_plane: ControlPlane,
    operator: ManagedProcess,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[str, str]]:
    """The API, its keyless settings pointing at every cloud's token exchange; its URL
    and a reader's token."""
    reader = f"svf-e2e-keyless-{uuid.uuid4().hex}"
    write_static_tokens(
        tmp_path / "tokens.yaml", [("reader", reader, [Scope.FEDERATION_READ, Scope.SECRETS_READ])]
    )
    clouds = {}
    for short in CLOUDS:
        clouds.update(make_cloud(request, short).settings())
    settings = Settings.load(
        api_host="127.0.0.1",
        api_port=free_port(),
        api_default_namespace="default",
        api_static_tokens=tmp_path / "tokens.yaml",
        kubeconfig=str(control_plane.kubeconfig),
        **clouds,
    )
    async with started_api(settings) as server:
        yield server.url, reader


async def test_proxied_reads_share_one_exchange_per_account(
    cluster: Cluster, cloud: KeylessCloud, keyless_api: tuple[str, str]
) -> None:
    url, token = keyless_api
    identity, prefix = tenant(cloud, cluster)
    body = spec(cloud, "reader", "proxied", prefix, mode="proxy")
    del body["syncInterval"]
    for name in ("one", "two"):
        await cluster.create_backend(name, body | {"pathMapping": {f"{name}/**": f"{prefix}**"}})
        await healthy(cluster, name)
    cloud.server.reset_exchanges()
    headers = {"Authorization": f"Bearer {token}"}
    reads = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(5):
            for name in ("one", "two"):
                got = f"{url}/v1/secrets/{name}/db"
                async with http.get(got, params={"namespace": cluster.namespace}) as reply:
                    assert reply.status == 200, await reply.text()
                    answer = await reply.json()
                reads += 1
                assert f"value of {cluster.namespace}" in str(answer)
    exchanges = cloud.exchanges()
    print(f"{cloud.short}: {reads} proxied reads, exchanges {exchanges['granted']}")
    assert exchanges["granted"].get(identity) == 1 and exchanges["refused"] == {}


async def test_a_cluster_backend_logs_in_as_an_account_of_the_operators_namespace(
    fleet: Fleet, cloud: KeylessCloud
) -> None:
    a, b = [await fleet.namespace(selected=True) for _ in range(2)]
    name = f"keyless-{fleet.id}"
    account = f"cluster-reader-{fleet.id}"
    prefix = f"cluster-{fleet.id}/"
    identity, annotations = cloud.grant(fleet.home, account, prefix)
    entry = f"clusterfederationbackend/{name}"
    lend_account(cloud.cp, fleet.home, account, annotations, token_for=entry)
    cloud.put(f"{prefix}db", "for every team")
    cloud.server.reset_exchanges()
    await fleet.post(name, spec(cloud, account, "shared", prefix))
    await fleet.wait_namespaces(name, a, b)
    for each in (a, b):
        secret = await each.secret("shared-db")
        assert secret is not None and decoded(secret) == {"value": "for every team"}
    assert cloud.exchanges()["granted"].get(identity) == 1
