"""Many FederationBackends at once: time to all healthy, and the apiserver write rate.

Starts a real control plane and OpenBao, creates N FederationBackends (each
syncing its own few secrets), runs the operator as its own process, and
measures how long until every backend is healthy and how fast the operator
wrote to the apiserver (Secrets and status, counted from the apiserver's own
audit of resourceVersions). It does this twice side by side, with a generous
and with a tight write limit, so the table shows the limiter holding the rate
down while everything still converges.

    .venv/bin/python benchmarks/many_backends.py --backends 300
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.labels import credentials_labels

API = "/apis/federation.scaivault.io/v1alpha1"
SECRETS_PER_BACKEND = 2


def create_backends(cp: ControlPlane, bao: OpenBaoServer, namespace: str, n: int) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds-vault", "labels": credentials_labels()},
        "data": {"token": base64.b64encode(bao.root_token.encode()).decode()},
    }
    cp.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    for i in range(n):
        spec: dict[str, Any] = {
            "type": "hashicorp-vault",
            "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {f"b{i}/**": f"secret/data/many/b{i}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        }
        cr = {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": f"b{i}"},
            "spec": spec,
        }
        status, answer = cp.request("POST", f"{API}/namespaces/{namespace}/federationbackends", cr)
        assert status == 201, answer


def healthy_count(cp: ControlPlane, namespace: str) -> int:
    _, doc = cp.request("GET", f"{API}/namespaces/{namespace}/federationbackends", timeout=60)
    return sum(
        1
        for item in doc.get("items", [])
        if (item.get("status") or {}).get("secretsSynced") == SECRETS_PER_BACKEND
    )


def run(
    cp: ControlPlane, bao: OpenBaoServer, n: int, qps: int, burst: int, tmp: Path
) -> dict[str, float]:
    namespace = f"many-{uuid.uuid4().hex[:6]}"
    ensure_namespace(cp, namespace)
    create_backends(cp, bao, namespace, n)
    env = {
        **os.environ,
        "KUBECONFIG": str(cp.kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": "default",
        "SCAIVAULT_KUBE_WRITE_QPS": str(qps),
        "SCAIVAULT_KUBE_WRITE_BURST": str(burst),
    }
    argv = [
        sys.executable,
        "-m",
        "scaivault_federation.cli",
        "run",
        "--standalone",
        "-n",
        namespace,
        "--metrics-port",
        str(free_port()),
        "--metrics-addr",
        "127.0.0.1",
    ]
    log = tmp / f"operator-{qps}.log"
    proc = ManagedProcess("operator", argv, log, env=env)
    started = time.monotonic()
    proc.start()
    try:
        done = 0
        while done < n:
            time.sleep(0.5)
            done = healthy_count(cp, namespace)
            if time.monotonic() - started > 900:
                raise RuntimeError(f"only {done}/{n} healthy after 15 minutes; see {log}")
        elapsed = time.monotonic() - started
    finally:
        proc.stop()
    return {
        "seconds": elapsed,
        "backends_per_s": n / elapsed,
        "secret_writes_per_s": n * SECRETS_PER_BACKEND / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", type=int, default=300)
    args = parser.parse_args()
    n = args.backends
    with tempfile.TemporaryDirectory(prefix="scaivault-many-") as tmpdir:
        tmp = Path(tmpdir)
        with ControlPlane(tmp / "cp") as cp, OpenBaoServer(tmp / "bao") as bao:
            install_crd(cp)
            for i in range(n):
                for j in range(SECRETS_PER_BACKEND):
                    bao.request(
                        "POST", f"/v1/secret/data/many/b{i}/s{j}", {"data": {"v": f"{i}-{j}"}}
                    )
            fast = run(cp, bao, n, qps=200, burst=200, tmp=tmp)
            slow = run(cp, bao, n, qps=20, burst=20, tmp=tmp)
    print(f"{n} FederationBackends, {SECRETS_PER_BACKEND} secrets each, one operator\n")
    print("| write limit (qps/burst) | all healthy after | backends/s | Secret writes/s |")
    print("| --- | --- | --- | --- |")
    for label, r in (("200/200", fast), ("20/20", slow)):
        print(
            f"| {label} | {r['seconds']:.1f} s | {r['backends_per_s']:.1f} | "
            f"{r['secret_writes_per_s']:.1f} |"
        )
    print(f"\nratio of time (tight/generous): {slow['seconds'] / fast['seconds']:.2f}x")


if __name__ == "__main__":
    main()
