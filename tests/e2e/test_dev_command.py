"""``scaivault-federation dev``: everything comes up, dev.json tells the truth, Ctrl-C
stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography import x509

from scaivault_devenv.binaries import find_binaries

from .helpers import decoded

pytestmark = pytest.mark.e2e

TYPES = {"hashicorp-vault", "aws-secrets-manager", "azure-key-vault", "google-secret-manager"}


def api(info: dict[str, Any], method: str, path: str, token: str, body: Any = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310  (loopback)
        info["api_url"] + path,
        data,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_dev_reaches_ready_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    log = (tmp_path / "dev.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaivault_federation.cli", "dev", "--state-dir", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 180
        while not (state / "dev.json").exists():
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dev did not become ready in 180s"
            time.sleep(0.5)
        info = json.loads((state / "dev.json").read_text())
        assert set(info["backends"]) == TYPES
        assert set(info["tokens"]) == {"admin", "read_only"}
        for entry in info["backends"].values():
            assert entry["endpoint"] and entry["sample_backend"]
        _check_lease_engines(info)
        _check_leased_samples(info)

        kubectl = find_binaries().kubectl
        assert kubectl is not None
        out = subprocess.run(
            [str(kubectl), "--kubeconfig", info["kubeconfig"], "get", "fedb", "-A", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        items = json.loads(out.stdout)["items"]
        assert {i["spec"]["type"] for i in items} == TYPES
        for item in items:
            assert item["status"]["status"] == "healthy", item["status"]
            assert item["status"]["secretsSynced"] > 0
        out = subprocess.run(
            [
                str(kubectl),
                "--kubeconfig",
                info["kubeconfig"],
                "get",
                "secrets",
                "-n",
                info["namespace"],
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        annotated = [
            s
            for s in json.loads(out.stdout)["items"]
            if "federation.scaivault.io/path" in (s["metadata"].get("annotations") or {})
        ]
        assert len(annotated) >= 4 * 3

        assert api(info, "GET", "/v1/federation/backends", info["tokens"]["read_only"]) == 200
        body = {
            "name": "not-allowed",
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1"},
            "path_mapping": {"x/**": "y/**"},
            "mode": "proxy",
        }
        assert (
            api(info, "POST", "/v1/federation/backends", info["tokens"]["read_only"], body) == 403
        )
        assert api(info, "POST", "/v1/federation/backends", info["tokens"]["admin"], {}) == 400
        assert api(info, "GET", "/v1/federation/backends", "wrong") == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    leftovers = subprocess.run(
        ["pgrep", "-f", str(state)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert leftovers == [], "processes started by dev are still running"


def _check_lease_engines(info: dict[str, Any]) -> None:
    """dev.json names the lease engines, whose credentials log in to its PostgreSQL;
    it holds no PostgreSQL password."""
    leases = info["leases"]
    assert leases["database"]["roles"]["app"]["path"] == "database/creds/app"
    assert leases["pki"]["path"] == "pki/issue/service"
    assert "password" not in json.dumps(leases)
    vault = info["backends"]["hashicorp-vault"]
    request = urllib.request.Request(  # noqa: S310  (loopback)
        f"{vault['endpoint']}/v1/database/creds/app", headers={"X-Vault-Token": vault["root_token"]}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        creds = json.loads(response.read())["data"]
    _log_in(leases["postgres"], creds)


def _log_in(where: dict[str, Any], creds: dict[str, str]) -> None:
    """The credentials log in to dev's PostgreSQL as their user."""
    with psycopg.connect(
        host=where["host"],
        port=where["port"],
        user=creds["username"],
        password=creds["password"],
        dbname="postgres",
        connect_timeout=5,
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (creds["username"],)


def _kubectl_json(info: dict[str, Any], *args: str) -> Any:
    kubectl = find_binaries().kubectl
    assert kubectl is not None
    out = subprocess.run(
        [str(kubectl), "--kubeconfig", info["kubeconfig"], "-n", info["namespace"], *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def _check_leased_samples(info: dict[str, Any]) -> None:
    """The FederationLease and FederationCertificate samples dev.json names are Ready:
    the lease's credentials log in to PostgreSQL, the certificate is the CA's."""
    samples = info["leases"]["samples"]
    items = _kubectl_json(info, "get", "fedlease,fedcert", "-o", "json")["items"]
    by_kind = {i["kind"]: i for i in items}
    assert {k: i["metadata"]["name"] for k, i in by_kind.items()} == {
        kind: entry["name"] for kind, entry in samples.items()
    }
    for item in items:
        ready = [c for c in item["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", item["status"]
    lease = samples["FederationLease"]["secret"]
    creds = decoded(_kubectl_json(info, "get", "secret", lease, "-o", "json"))
    _log_in(info["leases"]["postgres"], creds)
    tls = _kubectl_json(
        info, "get", "secret", samples["FederationCertificate"]["secret"], "-o", "json"
    )
    assert tls["type"] == "kubernetes.io/tls"
    data = decoded(tls)
    leaf = x509.load_pem_x509_certificates(data["tls.crt"].encode())[0]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(data["ca.crt"].encode()))
