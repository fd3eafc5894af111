"""Hostile CRs and bodies hurt nothing: a template that once ended the FederationBackend
watch of the operator and of the API is an invalid spec naming its field; templates
that would take terabytes or block the event loop fail their render within the
budget; the operator's memory stays bounded; deleted backends leave no metric series.

These run on a control plane of their own with an operator process started here
(stopped and started again with the bad CR present) and the API in this process,
so the session's operator is not a second one acting on these backends.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.server import ApiServer
from scaivault_federation.api.static_tokens import Scope, write_static_tokens
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.runner import STARTED
from scaivault_federation.settings import Settings
from tests.api_server import started_api

from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

SYSTEM = "scaivault-system"
NESTED_120 = "{{ " + "(" * 120 + "path" + ")" * 120 + " }}"
TERABYTES = "{{ [[1]*1048576]*1048576 }}"
ONE_CHAIN = "{{ ('a'*1000000)|upper|lower|length }}"
CHAIN_8K = ONE_CHAIN * (8192 // len(ONE_CHAIN))
#: the operator's resident memory stays under this while hostile templates are rendered
RSS_LIMIT_BYTES = 600 * 1024 * 1024


class Operator:
    """``scaivault-federation run`` on the plane, stopped and started again at will."""

    def __init__(self, plane: ControlPlane, folder: Path) -> None:
        self.plane = plane
        self.folder = folder
        self.metrics_port = free_port()
        self.proc: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.folder / f"operator-{self.starts}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "SCAIVAULT_OPERATOR_NAMESPACE": SYSTEM,
        }
        argv = [
            *(sys.executable, "-m", "scaivault_federation.cli", "run", "--standalone", "-v"),
            *("--metrics-port", str(self.metrics_port), "--metrics-addr", "127.0.0.1"),
        ]
        self.proc = ManagedProcess(f"operator-{self.starts}", argv, log, env=env)
        self.proc.start()
        self.proc.wait_until(
            lambda: STARTED in log.read_text(),
            timeout=60,
            what="the operator to start",
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def rss(self) -> int:
        assert self.proc is not None and self.proc.pid is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        assert self.proc is not None
        return self.proc.log_path.read_text()


@dataclass
class Api:
    server: ApiServer
    url: str
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("hostile-cp")) as cp:
        install_crd(cp)
        ensure_namespace(cp, SYSTEM)
        yield cp


@pytest.fixture(scope="module")
def operator_process(
    plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    operator = Operator(plane, tmp_path_factory.mktemp("hostile-operator"))
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture
async def plane_kube(plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(plane.kubeconfig))
    yield client
    await client.close()


@pytest.fixture
async def api(plane: ControlPlane, tmp_path: Path) -> AsyncIterator[Api]:
    token = f"svf-hostile-{uuid.uuid4().hex}"
    write_static_tokens(tmp_path / "tokens.yaml", [("admin", token, list(Scope))])
    settings = Settings.load(
        api_host="127.0.0.1",
        api_port=free_port(),
        api_default_namespace="default",
        api_static_tokens=tmp_path / "tokens.yaml",
        kubeconfig=str(plane.kubeconfig),
    )
    async with started_api(settings) as server:
        yield Api(server, server.url, token)


@pytest.fixture
async def cluster(plane_kube: KubeClient, openbao: OpenBaoServer) -> AsyncIterator[Cluster]:
    namespace = f"hostile-{uuid.uuid4().hex[:8]}"
    await plane_kube.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    made = Cluster(plane_kube, namespace)
    await made.put_credentials("creds-vault", {"token": openbao.root_token})
    yield made
    await plane_kube.delete(f"/api/v1/namespaces/{namespace}")


def vault_spec(openbao: OpenBaoServer, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "hashicorp-vault",
        "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
        "pathMapping": {f"{prefix}/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }


def seed(openbao: OpenBaoServer, prefix: str, value: str = "v") -> None:
    openbao.request("POST", f"/v1/secret/data/{prefix}/app", {"data": {"key": value}})


def invalid_config(status: dict[str, Any]) -> bool:
    return any(c.get("reason") == "InvalidConfig" for c in status.get("conditions") or [])


async def synced_secret(cluster: Cluster, name: str, timeout: float = 20) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        return await cluster.secret(name)

    return await eventually(probe, timeout, f"Secret {name} to be synced")


async def test_a_nested_template_is_invalid_config_and_stops_nothing(
    plane: ControlPlane,
    operator_process: Operator,
    cluster: Cluster,
    api: Api,
    openbao: OpenBaoServer,
) -> None:
    bad_prefix, good_prefix, late_prefix = (f"h{uuid.uuid4().hex[:8]}" for _ in range(3))
    for prefix in (bad_prefix, good_prefix, late_prefix):
        seed(openbao, prefix)
    await cluster.create_backend(
        "nested", vault_spec(openbao, bad_prefix, target={"name": NESTED_120})
    )
    status = await cluster.wait_status("nested", invalid_config, timeout=20)
    assert "spec.target.name" in status["message"]
    assert "nests brackets 120 deep" in status["message"]
    events = await cluster.events()
    assert any(
        e.get("reason") == "InvalidConfig" and "spec.target.name" in e.get("message", "")
        for e in events
    ), events

    # a valid backend created after it syncs within seconds
    await cluster.create_backend("good", vault_spec(openbao, good_prefix))
    secret = await synced_secret(cluster, f"{good_prefix}-app", timeout=15)
    assert decoded(secret) == {"key": "v"}

    async with aiohttp.ClientSession(headers=api.headers()) as http:
        # the API's watch carried on too: it lists both, and serves the good one's Secret
        async def listed() -> list[str] | None:
            url = f"{api.url}/v1/federation/backends"
            async with http.get(url, params={"namespace": cluster.namespace}) as reply:
                names = sorted(b["name"] for b in (await reply.json())["backends"])
            return names if names == ["good", "nested"] else None

        await eventually(listed, 15, "the API to list both backends")
        url = f"{api.url}/v1/secrets/{good_prefix}/app"
        async with http.get(url, params={"namespace": cluster.namespace}) as reply:
            assert reply.status == 200, await reply.text()

        # the same body through the API: 400 naming the field
        body = {
            "name": "nested-too",
            "namespace": cluster.namespace,
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "auth_config_path": "creds/vault"},
            "path_mapping": {f"{bad_prefix}/**": f"secret/data/{bad_prefix}/**"},
            "mode": "sync",
            "target": {"name": NESTED_120},
        }
        async with http.post(f"{api.url}/v1/federation/backends", json=body) as reply:
            answer = await reply.json()
            assert reply.status == 400, answer
            assert answer["error"]["field"] == "target.name", answer
            assert "nests brackets" in answer["error"]["message"]

    # restarted with the bad CR present, the operator handles every other backend
    operator_process.stop()
    operator_process.start()
    await cluster.create_backend("late", vault_spec(openbao, late_prefix))
    await synced_secret(cluster, f"{late_prefix}-app", timeout=15)
    seed(openbao, good_prefix, "v2")
    before = await cluster.request_sync("good")
    await cluster.wait_status("good", lambda s: s.get("lastSync", "") > before, timeout=15)
    secret = await synced_secret(cluster, f"{good_prefix}-app")
    assert decoded(secret) == {"key": "v2"}
    assert invalid_config(await cluster.status("nested"))
    assert "RecursionError" not in operator_process.log()


@pytest.mark.parametrize(
    ("where", "template"),
    [
        ("name", TERABYTES),
        ("data", TERABYTES),
        ("data", CHAIN_8K),
        ("labels", CHAIN_8K),
    ],
)
async def test_templates_of_terabytes_fail_their_render_and_memory_stays_bounded(
    operator_process: Operator,
    cluster: Cluster,
    openbao: OpenBaoServer,
    where: str,
    template: str,
) -> None:
    prefix = f"h{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix)
    for i in range(20):  # many paths, each rendering the template
        openbao.request("POST", f"/v1/secret/data/{prefix}/extra{i}", {"data": {"k": "v"}})
    target = {
        "name": {"name": template},
        "data": {"data": {"template": {"out": template}}},
        "labels": {"labels": {"hostile": template}},
    }[where]
    await cluster.create_backend("heavy", vault_spec(openbao, prefix, target=target))

    def failed(status: dict[str, Any]) -> bool:
        return invalid_config(status) or status.get("status") in ("degraded", "error")

    status = await cluster.wait_status("heavy", failed, timeout=30)
    assert any(
        word in status.get("message", "")
        for word in ("would exceed", "operations", "ran for", "nests")
    ), status
    assert operator_process.rss() < RSS_LIMIT_BYTES
    # the loop was never blocked for long: a backend created now syncs at once
    other = f"h{uuid.uuid4().hex[:8]}"
    seed(openbao, other)
    await cluster.create_backend("other", vault_spec(openbao, other))
    await synced_secret(cluster, f"{other}-app", timeout=15)
    assert operator_process.rss() < RSS_LIMIT_BYTES


async def _series_naming(http: aiohttp.ClientSession, url: str, namespace: str) -> list[str]:
    async with http.get(url) as reply:
        text = await reply.text()
    return [
        line
        for line in text.splitlines()
        if f'namespace="{namespace}"' in line and 'backend="' in line
    ]


async def test_deleted_backends_leave_no_metric_series(
    operator_process: Operator, cluster: Cluster, api: Api, openbao: OpenBaoServer
) -> None:
    prefix = f"h{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix)
    count = 100
    for i in range(count):
        spec = vault_spec(openbao, prefix)
        if i % 2:
            spec["mode"] = "proxy"
            del spec["syncInterval"]
        mount = "nowhere" if i % 4 == 2 else "secret"  # failing syncs count errors
        spec["pathMapping"] = {f"b{i}/**": f"{mount}/data/{prefix}/**"}
        await cluster.create_backend(f"b{i}", spec)
    operator_metrics = f"http://127.0.0.1:{operator_process.metrics_port}/metrics"
    api_metrics = f"{api.url}/metrics"
    async with aiohttp.ClientSession(headers=api.headers()) as http:

        async def every_backend_in_operator_metrics() -> bool:
            lines = await _series_naming(http, operator_metrics, cluster.namespace)
            named = {n for n in range(count) if any(f'backend="b{n}"' in line for line in lines)}
            return len(named) == count

        await eventually(every_backend_in_operator_metrics, 90, "series of every backend")
        for i in range(1, count, 2):  # a proxied read of each proxy-mode backend
            url = f"{api.url}/v1/secrets/b{i}/app"
            async with http.get(url, params={"namespace": cluster.namespace}) as reply:
                await reply.read()
        assert await _series_naming(http, api_metrics, cluster.namespace)
        for i in range(count):
            await cluster.kube.delete(cluster.backend_url(f"b{i}"))

        async def gone() -> bool:
            left = await _series_naming(http, operator_metrics, cluster.namespace)
            left += await _series_naming(http, api_metrics, cluster.namespace)
            return not left

        await eventually(gone, 90, "no series naming a deleted backend")
