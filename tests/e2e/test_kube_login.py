"""The one Kubernetes login, from a laptop's kind of kubeconfig: ``run`` and ``api``
with a ``KUBECONFIG`` of two files (the cluster and context in one, the user in
the other) whose user is an ``exec`` plugin printing short-lived credentials.

The plugin (``exec_plugin.py``) hands out a new ServiceAccount token on every run
and revokes the one it printed before, with an ``expirationTimestamp`` 20 s away:
a process that did not fetch its credential again before it expired, or kept
using the old one, would be refused.

These run on a control plane of their own, so the session's operator (which acts
on every namespace) does not act on their backends too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from scaivault_devenv.cluster import apply, ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.static_tokens import write_dev_tokens
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.labels import CLUSTER_PLURAL, FINALIZER, GROUP, VERSION

from .helpers import Cluster, eventually
from .operator_process import start_operator

pytestmark = pytest.mark.e2e

SYSTEM = "scaivault-system"
ACCOUNT = "exec-login"
LIFETIME = 20.0
PLUGIN = Path(__file__).with_name("exec_plugin.py")


@pytest.fixture(scope="module")
def login_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("login-cp")) as cp:
        install_crd(cp)
        ensure_namespace(cp, SYSTEM)
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT}}
        apply(cp, f"/api/v1/namespaces/{SYSTEM}/serviceaccounts", account)
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ACCOUNT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM}],
        }
        apply(cp, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
        yield cp


@pytest.fixture
async def plane_kube(login_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(login_plane.kubeconfig))
    yield client
    await client.close()


class ExecLogin:
    """A folder with the plugin's state and a ``KUBECONFIG`` of two files."""

    def __init__(self, cp: ControlPlane, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        admin = folder / "admin-token"
        admin.write_text(cp.admin_token)
        admin.chmod(0o600)
        (folder / "plugin.json").write_text(
            json.dumps(
                {
                    "server": cp.server,
                    "ca_file": str(cp.ca_file),
                    "admin_token_file": str(admin),
                    "namespace": SYSTEM,
                    "service_account": ACCOUNT,
                    "lifetime": LIFETIME,
                }
            )
        )
        # the cluster and its context in one file (the CA named relative to it) ...
        clusters = folder / "clusters"
        clusters.mkdir()
        shutil.copy(cp.ca_file, clusters / "ca.crt")
        cluster_file = clusters / "config"
        cluster_file.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "login",
                            "cluster": {"server": cp.server, "certificate-authority": "ca.crt"},
                        }
                    ],
                    "contexts": [
                        {
                            "name": "login",
                            "context": {"cluster": "login", "user": "exec", "namespace": SYSTEM},
                        }
                    ],
                    "current-context": "login",
                }
            )
        )
        # ... and the user, an exec plugin, in another
        user_file = folder / "user-config"
        user_file.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "users": [
                        {
                            "name": "exec",
                            "user": {
                                "exec": {
                                    "apiVersion": "client.authentication.k8s.io/v1",
                                    "command": sys.executable,
                                    "args": [str(PLUGIN), str(folder)],
                                    "interactiveMode": "Never",
                                }
                            },
                        }
                    ],
                }
            )
        )
        self.kubeconfig = f"{cluster_file}{os.pathsep}{user_file}"

    @property
    def count(self) -> int:
        path = self.folder / "count"
        return int(path.read_text()) if path.exists() else 0

    def issued(self) -> list[str]:
        path = self.folder / "issued"
        return path.read_text().split() if path.exists() else []

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig, "SCAIVAULT_OPERATOR_NAMESPACE": SYSTEM}


def _refused(cp: ControlPlane, token: str) -> bool:
    return cp.request("GET", "/api/v1/namespaces", token=token)[0] == 401


async def test_the_operator_logs_in_through_an_exec_plugin_and_renews_its_credential(
    login_plane: ControlPlane,
    plane_kube: KubeClient,
    openbao: OpenBaoServer,
    tmp_path: Path,
) -> None:
    login = ExecLogin(login_plane, tmp_path / "exec")
    log = tmp_path / "operator.log"
    proc = start_operator("operator-exec", log, login.env(), "--metrics-port", "0")
    try:
        assert login.count == 1  # one login for the whole process
        first = login.issued()[0]

        namespace = f"login-{uuid.uuid4().hex[:6]}"
        await plane_kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        cluster = Cluster(plane_kube, namespace)
        prefix = f"login-{uuid.uuid4().hex[:6]}"
        openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "one"}})
        await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
        await cluster.create_backend(
            "vault",
            {
                "type": "hashicorp-vault",
                "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
                "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
                "mode": "sync",
                "syncInterval": "1h",
            },
        )
        await cluster.wait_status("vault", lambda s: s.get("status") == "healthy", timeout=60)

        # The operator keeps acting while its credential expires twice: every manual
        # sync is honoured (each needs fresh credentials by the time it runs) ...
        syncs = 0
        deadline = time.monotonic() + 3 * LIFETIME + 30
        while login.count < 3:
            assert time.monotonic() < deadline, f"the plugin ran {login.count} times only"
            status = await cluster.sync_now("vault", timeout=30)
            assert status["status"] == "healthy"
            syncs += 1
            await asyncio.sleep(2)
        # ... the first credential is refused by now, and the operator does not care
        await eventually(
            lambda: asyncio.to_thread(_refused, login_plane, first),
            timeout=30,
            what="the first token to be refused",
        )
        openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "two"}})
        status = await cluster.sync_now("vault", timeout=60)
        assert status["status"] == "healthy"
        secret = await cluster.secret("app-db")
        assert secret is not None
        assert (secret.get("data") or {}).get("pw") == "dHdv"  # base64 of "two"
        # the operator's finalizer is handled with the renewed credential
        await plane_kube.delete(cluster.backend_url("vault"))

        async def gone() -> bool:
            items = (await plane_kube.get(cluster.backend_url())).get("items", [])
            return not items

        await eventually(gone, timeout=60, what="the backend's finalizer to be removed")

        # a ClusterFederationBackend too: its finalizer added, then removed on deletion,
        # with the renewed credential
        cluster_url = f"/apis/{GROUP}/{VERSION}/{CLUSTER_PLURAL}"
        name = f"login-{uuid.uuid4().hex[:6]}"
        await plane_kube.post(
            cluster_url,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ClusterFederationBackend",
                "metadata": {"name": name},
                "spec": {
                    "type": "hashicorp-vault",
                    "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
                    "namespaceSelector": {"matchLabels": {"scaivault-e2e/none": name}},
                    "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
                    "mode": "sync",
                    "syncInterval": "1h",
                },
            },
        )

        async def finalized() -> bool:
            meta = (await plane_kube.get(f"{cluster_url}/{name}"))["metadata"]
            return FINALIZER in (meta.get("finalizers") or [])

        await eventually(finalized, timeout=60, what="the operator to add its finalizer")
        await plane_kube.delete(f"{cluster_url}/{name}")

        async def cluster_gone() -> bool:
            items = (await plane_kube.get(cluster_url)).get("items", [])
            return not [i for i in items if i["metadata"]["name"] == name]

        await eventually(cluster_gone, timeout=60, what="the operator to remove its finalizer")
    finally:
        proc.stop()
    text = log.read_text()
    runs = login.count
    print(f"\nexec plugin runs: {runs}, manual syncs: {syncs} (lifetime {LIFETIME:.0f} s)")
    assert runs >= 3
    assert not [token for token in login.issued() if token in text], "a token reached the log"


async def test_the_api_logs_in_through_an_exec_plugin_and_renews_its_credential(
    login_plane: ControlPlane, tmp_path: Path
) -> None:
    login = ExecLogin(login_plane, tmp_path / "exec")
    tokens = write_dev_tokens(tmp_path / "tokens.yaml")
    port = free_port()
    namespace = f"api-login-{uuid.uuid4().hex[:6]}"
    ensure_namespace(login_plane, namespace)
    argv = [
        *(sys.executable, "-m", "scaivault_federation.cli", "api", "-v"),
        *("--host=127.0.0.1", f"--port={port}", f"--default-namespace={namespace}"),
        f"--static-tokens={tmp_path / 'tokens.yaml'}",
    ]
    log = tmp_path / "api.log"
    proc = ManagedProcess("api-exec", argv, log, env=login.env())
    proc.start()
    base = f"http://127.0.0.1:{port}/v1/federation/backends"
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    try:

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)

        proc.wait_until(healthy, timeout=60, what="the api command to serve")
        assert login.count == 1
        first = login.issued()[0]

        async def create(name: str) -> dict[str, Any]:
            body = {
                "name": name,
                "type": "hashicorp-vault",
                "config": {"endpoint": "http://127.0.0.1:1", "auth_config_path": "creds/x"},
                "path_mapping": {"app/**": "secret/data/app/**"},
                "mode": "sync",
                "sync_interval": "10m",
            }
            async with (
                aiohttp.ClientSession() as session,
                session.post(base, json=body, headers=headers) as resp,
            ):
                assert resp.status == 201, await resp.text()
                answer: dict[str, Any] = await resp.json()
                return answer

        await create("before")
        # after the credential expired, a write makes the API fetch a new one
        await asyncio.sleep(LIFETIME + 1)
        started = time.monotonic()
        await create("after")
        assert login.count == 2, "the expired credential was fetched again before the write"
        await eventually(
            lambda: asyncio.to_thread(_refused, login_plane, first),
            timeout=30,
            what="the first token to be refused",
        )
        await create("later")  # the API presents the new credential, not the revoked one
        async with (
            aiohttp.ClientSession() as session,
            session.get(base, headers=headers) as resp,
        ):
            assert resp.status == 200
            names = {b["name"] for b in (await resp.json())["backends"]}
        assert {"before", "after", "later"} <= names
        print(f"\nrenewed and wrote within {time.monotonic() - started:.1f} s")
    finally:
        proc.stop()
    text = log.read_text()
    assert not [token for token in login.issued() if token in text], "a token reached the log"
    assert tokens["admin"] not in text


@pytest.mark.parametrize("command", ["run", "api"])
def test_a_failing_exec_plugin_stops_the_command_with_its_message(
    command: str, tmp_path: Path
) -> None:
    fails = "import sys; sys.stderr.write('the session expired: log in again'); sys.exit(3)"
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": sys.executable,
                                "args": ["-c", fails],
                            }
                        },
                    }
                ],
                "contexts": [{"name": "laptop", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "laptop",
            }
        )
    )
    argv = [sys.executable, "-m", "scaivault_federation.cli", command, "--metrics-port=0"]
    if command == "api":
        argv = [*argv[:-1], "--port=0"]
    result = subprocess.run(
        argv,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the session expired: log in again" in result.stderr  # the plugin's own words
    assert "the user of context 'laptop' yielded no credentials" in result.stderr
    assert "Traceback" not in result.stderr
