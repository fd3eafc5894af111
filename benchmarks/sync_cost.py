"""What a sync costs: backend API calls, Kubernetes writes and time, side by side.

Runs against real servers (kube-apiserver, moto, OpenBao) and compares the
operator's sync (list pages, batch or version-aware reads, HMAC-skipped writes)
with a per-secret baseline that reads every secret and writes every Secret on
each refresh, the way a one-object-per-secret controller works. Both run in the
same process on the same servers, so the ratios hold even when the machine is
noisy; absolute times drift.

    make bench            # or: .venv/bin/python benchmarks/sync_cost.py --secrets 300
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import MotoServer
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.backends.vault.config import VaultConfig
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.k8s.secrets import SecretStore
from scaivault_federation.models.content import to_secret_data
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.paths import secret_name_for_path
from scaivault_federation.sync.service import SyncContext, run_sync

KEY = b"b" * 32


@dataclass
class Cost:
    backend_calls: int
    kube_writes: int
    seconds: float


async def ours(ctx: SyncContext, kube: KubeClient) -> Cost:
    ctx.backend.calls.reset()
    kube.requests.clear()
    started = time.perf_counter()
    await run_sync(ctx)
    return Cost(ctx.backend.calls.total(), kube.write_requests(), time.perf_counter() - started)


async def per_secret(
    ctx: SyncContext, kube: KubeClient, remote_paths: list[str], local_of: dict[str, str]
) -> Cost:
    """Read each secret on its own and write its Secret every time."""
    ctx.backend.calls.reset()
    kube.requests.clear()
    started = time.perf_counter()
    for remote in remote_paths:
        secret = await ctx.backend.get_secret(remote)
        local = local_of[remote]
        name = "baseline-" + secret_name_for_path(local)
        existing = await ctx.store.get(ctx.namespace, name)
        await ctx.store.write_synced(
            ctx.namespace,
            name,
            backend_name="baseline",
            path=local,
            remote_path=remote,
            remote_version=None,
            data=to_secret_data(secret.value),
            mac="-",
            existing=existing,
        )
    return Cost(ctx.backend.calls.total(), kube.write_requests(), time.perf_counter() - started)


def row(label: str, a: Cost, b: Cost) -> str:
    def ratio(x: float, y: float) -> str:
        return f"{y / x:6.1f}x" if x else "   inf"

    return (
        f"| {label:<34} | {a.backend_calls:>6} | {b.backend_calls:>6} | "
        f"{ratio(a.backend_calls, b.backend_calls)} | {a.kube_writes:>6} | {b.kube_writes:>6} | "
        f"{a.seconds * 1000:>8.0f} | {b.seconds * 1000:>8.0f} | {ratio(a.seconds, b.seconds)} |"
    )


async def scenario(
    label: str,
    backend: SecretBackend,
    spec: BackendSpec,
    kube: KubeClient,
    namespace: str,
    remote_paths: list[str],
    change: Any,
) -> list[str]:
    ctx = SyncContext(
        namespace, f"bench-{label.split()[0].lower()}", spec, backend, SecretStore(kube), KEY
    )
    mapping = spec.mappings[0]
    local_of = {p: mapping.to_local(p) or "" for p in remote_paths}
    lines = []
    a, b = await ours(ctx, kube), await per_secret(ctx, kube, remote_paths, local_of)
    lines.append(row(f"{label}: first sync", a, b))
    a, b = await ours(ctx, kube), await per_secret(ctx, kube, remote_paths, local_of)
    lines.append(row(f"{label}: nothing changed", a, b))
    change()
    a, b = await ours(ctx, kube), await per_secret(ctx, kube, remote_paths, local_of)
    lines.append(row(f"{label}: one secret changed", a, b))
    return lines


async def main_async(n: int, cp: ControlPlane, moto: MotoServer, bao: OpenBaoServer) -> None:
    kube = KubeClient(load_connection(cp.kubeconfig), write_qps=1000, write_burst=1000)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    ensure_namespace(cp, namespace)
    lines = [
        f"Sync cost for {n} secrets (ours vs per-secret read-and-write)",
        "",
        "| scenario                           | calls  | base   | ratio  | writes | base   "
        "| ours ms  | base ms  | ratio  |",
        "| ---------------------------------- | ------ | ------ | ------ | ------ | ------ "
        "| -------- | -------- | ------ |",
    ]
    # AWS Secrets Manager on moto
    sm = moto.client("secretsmanager")
    aws_paths = [f"bench/app{i:04d}" for i in range(n)]
    for path in aws_paths:
        sm.create_secret(Name=path, SecretString=f'{{"v": "{path}"}}')
    aws = await create_backend(
        "aws-secrets-manager",
        AwsConfig(region=moto.region, endpoint=moto.endpoint),
        Credentials(
            {
                "access_key_id": moto.access_key_id.encode(),
                "secret_access_key": moto.secret_access_key.encode(),
            }
        ),
    )
    aws_spec = BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": moto.region},
            "pathMapping": {"aws/**": "bench/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )
    lines += await scenario(
        "AWS",
        aws,
        aws_spec,
        kube,
        namespace,
        aws_paths,
        lambda: sm.put_secret_value(SecretId=aws_paths[0], SecretString='{"v": "new"}'),
    )
    # HashiCorp Vault KV v2 on OpenBao
    vault_paths = [f"secret/data/bench/app{i:04d}" for i in range(n)]
    for path in vault_paths:
        bao.request("POST", f"/v1/{path}", {"data": {"v": path}})
    vault = await create_backend(
        "hashicorp-vault",
        VaultConfig(endpoint=bao.address, auth_config_path="x/y"),
        Credentials({"token": bao.root_token.encode()}),
    )
    vault_spec = BackendSpec.model_validate(
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": bao.address, "authConfigPath": "x/y"},
            "pathMapping": {"vault/**": "secret/data/bench/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )
    lines += await scenario(
        "Vault",
        vault,
        vault_spec,
        kube,
        namespace,
        vault_paths,
        lambda: bao.request("POST", f"/v1/{vault_paths[0]}", {"data": {"v": "new"}}),
    )
    for backend in (aws, vault):
        await backend.close()
    await kube.close()
    print("\n".join(lines))
    print("\ncalls: backend API calls; writes: Kubernetes create/update/patch/delete requests.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scaivault-bench-") as tmp:
        root = Path(tmp)
        with (
            ControlPlane(root / "cp") as cp,
            MotoServer(root / "moto") as moto,
            OpenBaoServer(root / "bao") as bao,
        ):
            asyncio.run(main_async(args.secrets, cp, moto, bao))


if __name__ == "__main__":
    main()
