"""``GET /v1/secrets/{path}`` of backends whose templates are hostile: the API renders
no template on a request, so each answers in milliseconds whatever the template.

Starts a real control plane, OpenBao, the operator (its own process) and the API
(in this process); creates a plain backend, one whose Secret-name template is
expensive but valid, one whose name template would make terabytes, and one with
an 8 KiB chain of million-item filters in a data template; then times reads of
each backend's path through the API and prints them with the operator's
resident memory. Printed, not asserted.

    .venv/bin/python benchmarks/hostile_template_read.py --reads 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.api.server import ApiServer
from scaivault_federation.api.static_tokens import Scope, write_static_tokens
from scaivault_federation.labels import credentials_labels
from scaivault_federation.runner import STARTED
from scaivault_federation.settings import Settings

API = "/apis/federation.scaivault.io/v1alpha1"
NAMESPACE = "bench"
ONE_CHAIN = "{{ ('a'*1000000)|upper|lower|length }}"
TEMPLATES: dict[str, dict[str, Any]] = {
    "plain": {},
    "expensive-name": {"name": "{{ captures[0] }}-{{ (('a'*1000000)|upper|length) // 1000000 }}"},
    "terabyte-name": {"name": "{{ [[1]*1048576]*1048576 }}"},
    "chain-8k-data": {"data": {"template": {"v": ONE_CHAIN * (8192 // len(ONE_CHAIN))}}},
}


def create_backends(cp: ControlPlane, bao: OpenBaoServer) -> None:
    token = base64.b64encode(bao.root_token.encode()).decode()
    metadata = {"name": "creds-vault", "labels": credentials_labels()}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
    cp.request(
        "POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", {**secret, "data": {"token": token}}
    )
    for name, target in TEMPLATES.items():
        bao.request("POST", f"/v1/secret/data/{name}/app", {"data": {"key": "value"}})
        spec: dict[str, Any] = {
            "type": "hashicorp-vault",
            "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {f"{name}/**": f"secret/data/{name}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        }
        if target:
            spec["target"] = target
        cr = {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": spec,
        }
        status, answer = cp.request("POST", f"{API}/namespaces/{NAMESPACE}/federationbackends", cr)
        assert status == 201, answer


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def time_reads(url: str, token: str, reads: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for name in TEMPLATES:
            path = f"{url}/v1/secrets/{name}/app"
            deadline = time.monotonic() + 30
            status = 0
            while time.monotonic() < deadline:  # until the operator has had its go
                async with http.get(path, params={"namespace": NAMESPACE}) as reply:
                    status = reply.status
                    await reply.read()
                if status == 200 or name in ("terabyte-name", "chain-8k-data"):
                    break
                await asyncio.sleep(0.5)
            times = []
            for _ in range(reads):
                started = time.perf_counter()
                async with http.get(path, params={"namespace": NAMESPACE}) as reply:
                    status = reply.status
                    await reply.read()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{name:16} GET -> {status}  median {statistics.median(times):6.2f} ms"
                f"  p99 {p99:6.2f} ms  max {times[-1]:6.2f} ms"
            )


async def run(cp: ControlPlane, bao: OpenBaoServer, tmp: Path, reads: int) -> None:
    ensure_namespace(cp, NAMESPACE)
    ensure_namespace(cp, "scaivault-system")
    env = {
        **os.environ,
        "KUBECONFIG": str(cp.kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": "scaivault-system",
    }
    argv = [sys.executable, "-m", "scaivault_federation.cli", "run", "--standalone"]
    log = tmp / "operator.log"
    operator = ManagedProcess("operator", [*argv, "--metrics-port", "0"], log, env=env)
    operator.start()
    try:
        operator.wait_until(
            lambda: STARTED in log.read_text(),
            timeout=60,
            what="the operator to start",
        )
        assert operator.pid is not None
        before = rss_mib(operator.pid)
        create_backends(cp, bao)
        token = f"svf-bench-{uuid.uuid4().hex}"
        write_static_tokens(tmp / "tokens.yaml", [("bench", token, list(Scope))])
        settings = Settings.load(
            api_host="127.0.0.1",
            api_port=free_port(),
            api_default_namespace=NAMESPACE,
            api_static_tokens=tmp / "tokens.yaml",
            kubeconfig=str(cp.kubeconfig),
        )
        server = ApiServer(settings)
        ready = asyncio.Event()
        task = asyncio.create_task(server.serve(ready))
        await asyncio.wait_for(ready.wait(), 60)
        try:
            await time_reads(server.url, token, reads)
        finally:
            task.cancel()
        after = rss_mib(operator.pid)
        print(f"operator RSS: {before:.0f} MiB before the backends, {after:.0f} MiB after")
    finally:
        operator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        with ControlPlane(tmp / "cp") as cp, OpenBaoServer(tmp / "bao") as bao:
            install_crd(cp)
            asyncio.run(run(cp, bao, tmp, args.reads))


if __name__ == "__main__":
    main()
