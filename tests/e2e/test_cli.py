"""The commands for people, run as their own process against the running API and
operator: tables and JSON, names and ids, a per-path sync, values hidden unless
asked for, and one-line errors with a non-zero exit code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.labels import GROUP, VERSION
from tests.backends.harness_leases import LeaseServers

from .conftest import FederationApi
from .helpers import Cluster, decoded, eventually
from .leasing import create_lease, lease_namespace, lease_url, wait_lease

pytestmark = pytest.mark.e2e


class Cli:
    def __init__(self, api: FederationApi, token: str, home: Path) -> None:
        self.env = {
            **os.environ,
            "SCAIVAULT_API_URL": api.url,
            "SCAIVAULT_API_TOKEN": token,
            "SCAIVAULT_DEV_JSON": str(home / "no-dev.json"),
        }

    async def run(self, *argv: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["SCAIVAULT_API_TOKEN"] = token
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "scaivault_federation.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    async def ok(self, *argv: str) -> str:
        done = await self.run(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        return done.stdout


async def test_the_commands_against_a_running_api(
    cluster: Cluster, openbao: OpenBaoServer, federation_api: FederationApi, tmp_path: Path
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    for name, value in (("a", "canary-value-a1"), ("b", "canary-value-b1"), ("c", "remote")):
        openbao.request("POST", f"/v1/secret/data/{prefix}/{name}", {"data": {"v": value}})
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    await cluster.put_secret("app-c", {"v": "local"})  # a conflict: not ours, differs
    await cluster.create_backend(
        "vault-cli",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"app/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    status = await cluster.wait_status("vault-cli", lambda s: s.get("secretsSynced") == 2)
    ns = cluster.namespace
    cli = Cli(federation_api, federation_api.admin, tmp_path)

    async def listed() -> bool:
        return ns in await cli.ok("backends", "-n", ns)

    await eventually(listed, what="the backend in the API")
    text = await cli.ok("backends", "-n", ns)
    header, row = text.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "NAME",
        "ID",
        "TYPE",
        "MODE",
        "STATUS",
        "SYNCED",
        "CONFLICTS",
        "LAST",
        "SYNC",
        "MESSAGE",
    ]
    ident = status["id"]
    assert row.split()[:8] == [
        ns,
        "vault-cli",
        ident,
        "hashicorp-vault",
        "sync",
        "healthy",
        "2",
        "1",
    ]
    doc = json.loads(await cli.ok("backends", "-n", ns, "-o", "json"))
    [backend] = doc["backends"]
    assert backend["id"] == ident and backend["status"]["conflict_count"] == 1

    text = await cli.ok("status", "vault-cli", "-n", ns)
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert lines["Backend"].strip() == f"{ns}/vault-cli"
    assert lines["Status"].strip() == "healthy"
    assert lines["Secrets synced"].strip() == "2"
    assert lines["Connection"].strip().startswith("connected, ")
    assert json.loads(await cli.ok("status", ident, "-o", "json"))["id"] == ident

    text = await cli.ok("conflicts", "vault-cli", "-n", ns)
    assert text.splitlines()[0].split() == ["PATH", "REMOTE", "PATH", "REASON", "SINCE"]
    assert text.splitlines()[1].split()[:3] == [
        "app/c",
        f"secret/data/{prefix}/c",
        "UnmanagedSecretDiffers",
    ]

    openbao.request("POST", f"/v1/secret/data/{prefix}/a", {"data": {"v": "canary-value-a2"}})
    openbao.request("POST", f"/v1/secret/data/{prefix}/b", {"data": {"v": "canary-value-b2"}})
    text = await cli.ok("sync", "vault-cli", "-n", ns, "--path", "app/a")
    assert text.startswith(f"sync of {ns}/vault-cli requested at ") and text.endswith(": app/a\n")

    async def a_synced() -> bool:
        secret = await cluster.secret("app-a")
        return secret is not None and decoded(secret) == {"v": "canary-value-a2"}

    await eventually(a_synced, what="app/a to be synced")
    b = await cluster.secret("app-b")
    assert b is not None and decoded(b) == {"v": "canary-value-b1"}  # not asked for

    text = await cli.ok("get", "app/a", "-n", ns)
    assert "canary-value" not in text
    assert [line.split() for line in text.splitlines()] == [
        ["Path:", "app/a"],
        ["Source:", "sync"],
        ["Backend:", ident],
        [],
        ["KEY", "SIZE"],
        ["v", "15", "bytes"],
    ]
    hidden = json.loads(await cli.ok("get", "app/a", "-n", ns, "-o", "json"))
    assert hidden["keys"] == {"v": {"bytes": 15}} and "canary" not in json.dumps(hidden)
    shown = await cli.ok("get", "app/a", "-n", ns, "--show-values")
    assert shown.splitlines()[-1].split() == ["v", "15", "bytes", "canary-value-a2"]

    # errors: one line on stderr, exit code 1
    for argv, token, expected in (
        (("backends",), "svf-not-a-token", "backends: 401: the bearer token is not valid"),
        (("sync", ident), federation_api.reader, "sync: 403: federation:write is required"),
        (("status", "no-such-backend", "-n", ns), None, "status: 404: no backend named"),
        (("get", "app/none", "-n", ns), None, "get: 404: "),
    ):
        done = await cli.run(*argv, token=token)
        assert done.returncode == 1, (argv, done)
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("scaivault-federation " + expected), done.stderr
        assert "Traceback" not in done.stderr
    unreachable = await cli.run("backends", "--api-url", "http://127.0.0.1:1")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith(
        "scaivault-federation backends: cannot reach the API at http://127.0.0.1:1"
    )


async def test_leases_and_certificates_are_listed(
    cluster: Cluster, federation_api: FederationApi, tmp_path: Path
) -> None:
    """The listing's wiring (its rows' order and times: tests/unit/test_leased_view.py)."""
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{cluster.namespace}"
    for kind, spec in (
        ("FederationLease", {"path": "database/creds/app"}),
        ("FederationCertificate", {"path": "pki/issue/web", "commonName": "web.example"}),
    ):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "one"}}
        spec = {"backendRef": "nowhere", **spec}
        await cluster.kube.post(f"{base}/{kind.lower()}s", {**body, "spec": spec})
    cli = Cli(federation_api, federation_api.admin, tmp_path)
    ns = cluster.namespace

    async def listed(command: str) -> str | None:
        text = await cli.ok(command, "-n", ns)
        return text if not text.startswith("no ") else None

    header, row = (await eventually(lambda: listed("leases"), what="the lease")).splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "BACKEND", "PATH", "SECRET", "READY", "EXPIRES",
        "NEXT", "RENEWAL", "ROTATIONS", "REASON",
    ]  # fmt: skip
    assert row.split()[:4] == [ns, "one", "nowhere", "database/creds/app"]
    (lease,) = json.loads(await cli.ok("leases", "-n", ns, "-o", "json"))["leases"]
    assert (lease["name"], lease["path"]) == ("one", "database/creds/app")
    assert "expires_at" in lease and "next_renewal_at" in lease

    text = await eventually(lambda: listed("certificates"), what="the certificate")
    header, row = text.splitlines()
    assert header.split()[:5] == ["NAMESPACE", "NAME", "BACKEND", "COMMON", "NAME"]
    assert row.split()[:4] == [ns, "one", "nowhere", "web.example"]
    done = await cli.run("certificates", "-n", ns, token="svf-not-a-token")
    assert done.returncode == 1
    assert done.stderr.startswith("scaivault-federation certificates: 401: ")


async def test_a_real_lease_is_listed_with_its_expiry_and_next_renewal(
    kube: KubeClient,
    operator: ManagedProcess,
    lease_engines: LeaseServers,
    federation_api: FederationApi,
    tmp_path: Path,
) -> None:
    role = lease_engines.database_role(default_ttl=300, max_ttl=900)
    cluster = await lease_namespace(kube, lease_engines, "cli-lease")
    await create_lease(cluster, "db", {"path": lease_engines.engines.creds_path(role.name)})
    status = await wait_lease(cluster, "db", lambda s: s.get("nextRenewalAt"), what="issued")
    cli = Cli(federation_api, federation_api.admin, tmp_path)
    try:
        (lease,) = json.loads(await cli.ok("leases", "-n", cluster.namespace, "-o", "json"))[
            "leases"
        ]
        assert parse(lease["expires_at"]) == parse(status["expiresAt"])
        assert lease["ready"] is True and lease["secret_name"] == status["secretName"]
        assert "leaseId" not in json.dumps(lease) and status["leaseId"] not in json.dumps(lease)
        row = (await cli.ok("leases", "-n", cluster.namespace)).splitlines()[1].split()
        assert row[:2] == [cluster.namespace, "db"]
        assert row[6] == "in" and row[7].endswith("m")  # expires in about 5 minutes
        assert row[8] == "in"  # the next renewal, before it
    finally:
        await kube.delete(lease_url(cluster, "db"))


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
