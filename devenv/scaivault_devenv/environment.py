"""``scaivault-federation dev``: the embedded default.

Starts a real control plane and a real OpenBao server, installs the CRD, seeds
example secrets and a sample FederationBackend, runs the operator in this
process, and writes ``dev.json`` once the sample is healthy. Ctrl-C stops
everything it started.

For leased secrets it also starts PostgreSQL and configures OpenBao's database
engine on it and its PKI engine (:mod:`.openbao_engines`); ``dev.json``'s
``leases`` says where they are (paths, role names, PostgreSQL's address), never
a password or key, and names the two samples it seeds there, a FederationLease
and a FederationCertificate (:mod:`.samples_leases`); ``dev.json`` is written once
they are Ready too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .cluster import ensure_namespace, install_crd
from .controlplane import ControlPlane
from .gsm import GoogleEmulator
from .keyvault import KeyVaultServer
from .moto import MotoServer
from .openbao import OpenBaoServer
from .openbao_engines import LeaseEngines, configure_lease_engines
from .postgres import PostgresServer
from .processes import free_port
from .samples import SAMPLE_NAMESPACE, SYSTEM_NAMESPACE, seed_vault
from .samples_aws import seed_aws
from .samples_azure import seed_azure
from .samples_google import seed_google
from .samples_leases import COLLECTIONS, seed_leases
from .samples_shapes import seed_shapes

log = logging.getLogger(__name__)


def run_dev(state_dir: Path) -> int:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "dev.json").unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        cp = stack.enter_context(ControlPlane(state_dir / "controlplane"))
        bao = stack.enter_context(OpenBaoServer(state_dir / "openbao"))
        moto = stack.enter_context(MotoServer(state_dir / "moto"))
        keyvault = stack.enter_context(KeyVaultServer(state_dir / "keyvault"))
        gsm = stack.enter_context(GoogleEmulator(state_dir / "google"))
        postgres = stack.enter_context(PostgresServer(state_dir / "postgres"))
        engines = configure_lease_engines(bao, postgres)
        install_crd(cp)
        ensure_namespace(cp, SYSTEM_NAMESPACE)
        ensure_namespace(cp, SAMPLE_NAMESPACE)
        backends = {
            "hashicorp-vault": seed_vault(cp, bao),
            "aws-secrets-manager": seed_aws(cp, moto),
            "azure-key-vault": seed_azure(cp, keyvault),
            "google-secret-manager": seed_google(cp, gsm),
        }
        seed_shapes(bao, moto, gsm)
        leases = lease_info(engines, postgres)
        leases["samples"] = seed_leases(cp, engines, backends["hashicorp-vault"]["sample_backend"])
        os.environ.update(keyvault.client_env())  # trust the emulator's CA and token endpoint
        os.environ["KUBECONFIG"] = str(cp.kubeconfig)
        os.environ["SCAIVAULT_OPERATOR_NAMESPACE"] = SYSTEM_NAMESPACE
        info: dict[str, Any] = {
            "api_url": None,
            "kubeconfig": str(cp.kubeconfig),
            "namespace": SAMPLE_NAMESPACE,
            "tokens": {},
            "backends": backends,
            "leases": leases,
        }
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(cp, state_dir, info))
    return 0


def lease_info(engines: LeaseEngines, postgres: PostgresServer) -> dict[str, Any]:
    """What ``dev.json`` says of the lease engines: where, which roles (no secret)."""
    return {
        **engines.describe(),
        "postgres": {"host": postgres.host, "port": postgres.port, "log": str(postgres.log_path)},
    }


async def _serve(cp: ControlPlane, state_dir: Path, info: dict[str, Any]) -> None:
    from scaivault_federation.api.server import run_api, write_dev_tokens
    from scaivault_federation.runner import run_operator
    from scaivault_federation.settings import Settings

    tokens_file = state_dir / "api-tokens.yaml"
    info["tokens"] = write_dev_tokens(tokens_file)
    port = free_port()
    settings = Settings.load(
        kubeconfig=str(cp.kubeconfig),
        standalone=True,
        metrics_port=free_port(),
        metrics_addr="127.0.0.1",
        api_host="127.0.0.1",
        api_port=port,
        api_default_namespace=SAMPLE_NAMESPACE,
        api_static_tokens=tokens_file,
    )
    info["api_url"] = f"http://127.0.0.1:{port}"
    operator = asyncio.create_task(run_operator(settings))
    api_ready = asyncio.Event()
    api = asyncio.create_task(run_api(settings, ready=api_ready))
    samples = [entry["sample_backend"] for entry in info["backends"].values()]
    await asyncio.wait_for(api_ready.wait(), timeout=60)
    await asyncio.wait_for(_wait_healthy(cp, samples), timeout=120)
    leased = {kind: entry["name"] for kind, entry in info["leases"]["samples"].items()}
    await asyncio.wait_for(_wait_ready(cp, leased), timeout=60)
    path = state_dir / "dev.json"
    path.write_text(json.dumps(info, indent=2) + "\n")
    path.chmod(0o600)
    print(
        f"scaivault-federation dev is ready: {path} (Ctrl-C stops it)", file=sys.stderr, flush=True
    )
    try:
        await operator
    finally:
        api.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await api


async def _wait_healthy(cp: ControlPlane, names: list[str]) -> None:
    base = (
        f"/apis/federation.scaivault.io/v1alpha1/namespaces/{SAMPLE_NAMESPACE}/federationbackends"
    )
    while True:
        healthy = 0
        for name in names:
            _, body = await asyncio.to_thread(cp.request, "GET", f"{base}/{name}")
            status = body.get("status", {})
            if status.get("status") == "healthy" and status.get("secretsSynced", 0) > 0:
                healthy += 1
        if healthy == len(names):
            return
        await asyncio.sleep(0.5)


async def _wait_ready(cp: ControlPlane, samples: dict[str, str]) -> None:
    """Until each leased sample (by kind) reports Ready."""
    while True:
        ready = 0
        for kind, name in samples.items():
            _, body = await asyncio.to_thread(cp.request, "GET", f"{COLLECTIONS[kind]}/{name}")
            conditions = body.get("status", {}).get("conditions") or []
            ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if ready == len(samples):
            return
        await asyncio.sleep(0.5)
