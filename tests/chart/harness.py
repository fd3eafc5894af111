"""Running the operator and the API as the chart's ServiceAccounts, for the RBAC tests.

Each process gets the arguments and environment of its rendered Deployment's
container (ports moved to free loopback ones) and a kubeconfig holding only a
TokenRequest token of that Deployment's own ServiceAccount (the operator's,
or the API's), pointed at a recording proxy in front of the test apiserver
(see :mod:`.recorder`).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.labels import credentials_labels
from tests.vault_kubernetes import ROLE, configure_kubernetes_auth, create_service_account

from .identity import request_token, who_am_i, write_kubeconfig
from .recorder import Call, RecordingProxy
from .tools import Release

T = TypeVar("T")
API_GROUP = "federation.scaivault.io"
CR_API = f"/apis/{API_GROUP}/v1alpha1"
FORBIDDEN_LOG_MARKERS = ("Forbidden", " 403", "Not enough permissions")
LEASE_GROUP_LABEL = "federation.scaivault.io/replicas"

Grant = tuple[str, str, str]  # (api group, resource, verb)


def eventually(probe: Callable[[], T | None], timeout: float = 30, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def grants(*roles: dict[str, Any]) -> set[Grant]:
    """The (group, resource, verb) triples some (Cluster)Roles grant."""
    out: set[Grant] = set()
    for role in roles:
        for rule in role.get("rules") or []:
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        out.add((group, resource, verb))
    return out


def used(calls: list[Call]) -> set[Grant]:
    return {(c.group, c.resource, c.verb) for c in calls if not c.non_resource}


def denied(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.status in (401, 403)]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310  (loopback)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Identity:
    """One of the chart's ServiceAccounts of an installed release (the operator's, or
    with ``api`` the API's), a token of it, and the Deployment that runs as it."""

    release: Release
    user: str
    token: str
    tmp: Path
    deployment: str

    @classmethod
    def of(cls, release: Release, tmp: Path, *, api: bool = False) -> Identity:
        cp = release.cp
        install_crd(cp)  # installed by helm from crds/; this waits until it is served
        name = f"{release.fullname}-api" if api else release.fullname
        deployment = release.get(f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{name}")
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        token = request_token(cp, release.namespace, account)
        user = who_am_i(cp, token)
        assert user == f"system:serviceaccount:{release.namespace}:{name}"
        return cls(release, user, token, tmp, name)

    def container(self, name: str) -> dict[str, Any]:
        deployment = self.release.get(
            f"/apis/apps/v1/namespaces/{self.release.namespace}/deployments/{self.deployment}"
        )
        containers = deployment["spec"]["template"]["spec"]["containers"]
        found: dict[str, Any] = next(c for c in containers if c["name"] == name)
        return found

    @property
    def pod_name(self) -> str:
        """The name the process gets for the pod it would run in."""
        return f"{self.deployment}-5d8f7c9b6-x2k4p"

    def environment(self, container: dict[str, Any], kubeconfig: Path) -> dict[str, str]:
        """The container's environment (fieldRefs resolved) plus the kubeconfig."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.pop("HOSTNAME", None)
        pod = {"metadata.namespace": self.release.namespace, "metadata.name": self.pod_name}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                env[item["name"]] = pod[item["valueFrom"]["fieldRef"]["fieldPath"]]
        env["KUBECONFIG"] = str(kubeconfig)
        return env

    def kubeconfig(self, server: str, name: str) -> Path:
        return write_kubeconfig(
            self.tmp / f"{name}.kubeconfig",
            server,
            self.token,
            ca_file=self.release.cp.ca_file,
            namespace=self.release.namespace,
        )

    def cluster_role(self, suffix: str) -> dict[str, Any]:
        path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
        return self.release.get(path + f"{self.release.fullname}-{suffix}")

    def role(self, namespace: str, name: str) -> dict[str, Any]:
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}"
        return self.release.get(path)

    def leases(self) -> list[dict[str, Any]]:
        """The Leases of the release's group of replicas (read as the admin)."""
        name, namespace = self.release.fullname, self.release.namespace
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        selector = f"labelSelector={LEASE_GROUP_LABEL}%3D{name}"
        items: list[dict[str, Any]] = self.release.get(f"{path}?{selector}")["items"]
        return items


@dataclass
class Running:
    process: ManagedProcess
    proxy: RecordingProxy
    url: str

    def log(self) -> str:
        return self.process.log_path.read_text()

    def forbidden_in_log(self) -> list[str]:
        return [m for m in FORBIDDEN_LOG_MARKERS if m in self.log()]


def _start(identity: Identity, name: str, args: list[str], proxy: RecordingProxy) -> ManagedProcess:
    kubeconfig = identity.kubeconfig(proxy.url, name)
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "scaivault_federation.cli", *args],
        identity.tmp / f"{name}.log",
        env=identity.environment(identity.container(name), kubeconfig),
    )
    process.start()
    return process


@contextmanager
def run_operator(identity: Identity) -> Iterator[Running]:
    """``scaivault-federation run`` with the Deployment's args, as the ServiceAccount."""
    health, metrics = free_port(), free_port()
    args: list[str] = []
    for arg in identity.container("operator")["args"]:
        if arg.startswith("--liveness="):
            arg = f"--liveness=http://127.0.0.1:{health}/healthz"
        elif arg.startswith("--metrics-port="):
            arg = f"--metrics-port={metrics}"
        args.append(arg)
    args += ["--metrics-addr=127.0.0.1", "--verbose"]
    with RecordingProxy(identity.release.cp.server, identity.release.cp.ca_file) as proxy:
        process = _start(identity, "operator", args, proxy)
        try:
            # The Deployment's liveness probe, answered once startup is done.
            url = f"http://127.0.0.1:{health}/healthz"
            process.wait_until(lambda: http_ok(url), 60, "the operator's liveness endpoint")
            assert http_ok(f"http://127.0.0.1:{metrics}/metrics")
            yield Running(process, proxy, url)
        finally:
            process.stop()


@contextmanager
def run_api(identity: Identity) -> Iterator[Running]:
    """``scaivault-federation api`` with the Deployment's args, as the ServiceAccount."""
    port = free_port()
    args = [
        f"--port={port}" if a.startswith("--port=") else a
        for a in identity.container("api")["args"]
    ]
    args += ["--host=127.0.0.1"]
    with RecordingProxy(identity.release.cp.server, identity.release.cp.ca_file) as proxy:
        process = _start(identity, "api", args, proxy)
        try:
            url = f"http://127.0.0.1:{port}"
            process.wait_until(lambda: http_ok(f"{url}/healthz"), 60, "the API's /healthz")
            yield Running(process, proxy, url)
        finally:
            process.stop()


def api_call(
    running: Running, method: str, path: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One HTTP API request; (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310  (loopback)
        running.url + path, data, headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else {}


class Namespace:
    """An application namespace, driven with the admin token."""

    def __init__(self, cp: ControlPlane, name: str | None = None) -> None:
        self.cp = cp
        self.name = name or f"app-{uuid.uuid4().hex[:8]}"
        ensure_namespace(cp, self.name)

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, doc = self.cp.request(method, path, body)
        assert status < 300, f"{method} {path}: {status} {doc.get('message')}"
        return doc

    def merge_patch(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310  (the test apiserver)
            self.cp.server + path,
            json.dumps(body).encode(),
            {
                "Authorization": f"Bearer {self.cp.admin_token}",
                "Content-Type": "application/merge-patch+json",
            },
            method="PATCH",
        )
        context = ssl.create_default_context(cafile=str(self.cp.ca_file))
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            assert resp.status == 200

    def put_secret(
        self, name: str, data: dict[str, str], labels: dict[str, str] | None = None
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": labels or {}},
            "data": {k: b64(v) for k, v in data.items()},
        }
        self.call("POST", f"/api/v1/namespaces/{self.name}/secrets", body)

    def put_credentials(self, name: str, data: dict[str, str]) -> None:
        """A credentials Secret: one labelled for backends to read."""
        self.put_secret(name, data, labels=credentials_labels())

    def secret(self, name: str) -> dict[str, Any] | None:
        status, doc = self.cp.request("GET", f"/api/v1/namespaces/{self.name}/secrets/{name}")
        return doc if status == 200 else None

    def backends(self, name: str = "") -> str:
        base = f"{CR_API}/namespaces/{self.name}/federationbackends"
        return f"{base}/{name}" if name else base

    def create_backend(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{API_GROUP}/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.call("POST", self.backends(), body)

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.call("GET", self.backends(name)).get("status") or {}
        return status

    def gone(self, name: str) -> bool:
        return self.cp.request("GET", self.backends(name))[0] == 404


#: the ServiceAccount whose tokens the scenarios' Vault kubernetes-auth backends use
TOKEN_ACCOUNT = "app-reader"


def app_namespace_name(cp: ControlPlane) -> str:
    """A new application namespace (created now: RBAC objects go there at install)."""
    return Namespace(cp).name


def token_values(*namespaces: str) -> list[str]:
    """helm arguments granting tokens of :data:`TOKEN_ACCOUNT` in ``namespaces`` only."""
    grants = json.dumps({ns: [TOKEN_ACCOUNT] for ns in namespaces})
    return [
        "--set",
        "rbac.serviceAccountTokens=true",
        "--set-json",
        f"rbac.serviceAccountTokenNamespaces={grants}",
    ]


def operator_scenario(cp: ControlPlane, openbao: OpenBaoServer, namespace: str) -> None:
    """What the operator does, run against a running operator in ``namespace``: a full
    sync with a conflict, a change, a prune, a manual trigger, Vault kubernetes auth
    (a token of ``app-reader``), deletions."""
    began = time.monotonic()
    app = Namespace(cp, namespace)
    prefix = f"rbac-{uuid.uuid4().hex[:8]}"
    seed(
        openbao,
        prefix,
        {
            "db": {"password": "pw-1"},
            "api": {"key": "k-1"},
            "c": {"v": "remote"},
            "old": {"v": "x"},
        },
    )
    app.put_credentials("creds-vault-token", {"token": openbao.root_token})
    app.put_secret("external-vault-c", {"v": "local"})  # unmanaged, at a synced path
    app.create_backend("vault", vault_spec(openbao, prefix, prune=True, deletionPolicy="Retain"))

    # A full sync: three Secrets written, the unmanaged one kept and listed.
    status = eventually(
        lambda: (s := app.status("vault")).get("lastSync") and s, 60, "the first sync"
    )
    assert status["status"] == "healthy", status
    assert status["secretsSynced"] == 3
    assert [(c["path"], c["reason"]) for c in status["conflicts"]] == [
        ("external/vault/c", "UnmanagedSecretDiffers")
    ]
    db = app.secret("external-vault-db")
    assert db is not None and unb64(db["data"]) == {"password": "pw-1"}
    kept = app.secret("external-vault-c")
    assert kept is not None and unb64(kept["data"]) == {"v": "local"}
    # the Event follows the status write: wait for it rather than race it
    eventually(
        lambda: (
            "ConflictDetected"
            in {
                e["reason"]
                for e in app.call("GET", f"/api/v1/namespaces/{app.name}/events")["items"]
            }
        ),
        30,
        "the ConflictDetected Event",
    )
    print(f"first sync as the ServiceAccount: {time.monotonic() - began:.1f}s")

    # A change (update), a remote deletion with prune (delete), a manual trigger.
    seed(openbao, prefix, {"db": {"password": "pw-2"}})
    openbao.request("DELETE", f"/v1/secret/metadata/{prefix}/old")
    before = status["lastSync"]
    time.sleep(1.1)  # lastSync has a resolution of one second
    stamp = f"{time.time()}"
    app.merge_patch(
        app.backends("vault"),
        {"metadata": {"annotations": {f"{API_GROUP}/sync-requested-at": stamp}}},
    )
    eventually(lambda: app.status("vault").get("lastSync") != before, 30, "the manual sync")
    db = app.secret("external-vault-db")
    assert db is not None and unb64(db["data"]) == {"password": "pw-2"}
    assert app.secret("external-vault-old") is None

    # Vault kubernetes auth: a TokenRequest token of a ServiceAccount of the namespace.
    create_service_account(cp, app.name, TOKEN_ACCOUNT, token_for="vault-k8s")
    mount = configure_kubernetes_auth(openbao, cp, app.name, TOKEN_ACCOUNT, prefix)
    app.create_backend("vault-k8s", vault_kubernetes_spec(openbao, prefix, mount, TOKEN_ACCOUNT))
    k8s = eventually(
        lambda: (s := app.status("vault-k8s")).get("status") == "healthy" and s,
        30,
        "the kubernetes-auth sync",
    )
    assert k8s["secretsSynced"] == 3  # db, api, c
    k8s_db = app.secret("k8s-vault-db")
    assert k8s_db is not None and unb64(k8s_db["data"]) == {"password": "pw-2"}

    # A FederationLease and a FederationCertificate naming the Vault backend: read
    # (get), their finalizer added and removed, their status written (patch).
    leasing = (
        ("federationleases", "FederationLease", {"path": "database/creds/rbac"}),
        (
            "federationcertificates",
            "FederationCertificate",
            {"path": "pki/issue/rbac", "commonName": "rbac.example"},
        ),
    )
    for plural, kind, spec in leasing:
        url = f"{CR_API}/namespaces/{app.name}/{plural}"
        body = {
            "apiVersion": f"{API_GROUP}/v1alpha1",
            "kind": kind,
            "metadata": {"name": "rbac"},
            "spec": {"backendRef": "vault", "deletionPolicy": "Retain", **spec},
        }
        app.call("POST", url, body)

        def reported(url: str = url) -> Any:
            return (app.call("GET", f"{url}/rbac").get("status") or {}).get("conditions")

        def deleted(url: str = url) -> bool:
            return app.cp.request("GET", f"{url}/rbac")[0] == 404

        eventually(reported, 30, f"the {kind}'s status")
        app.call("DELETE", f"{url}/rbac")
        eventually(deleted, 30, "the deletion")

    # Deleting the CR with Retain releases the Secrets (patch) and the finalizer.
    app.call("DELETE", app.backends("vault"))
    eventually(lambda: app.gone("vault"), 30, "the deletion")
    released = app.secret("external-vault-db")
    assert released is not None
    assert "app.kubernetes.io/managed-by" not in (released["metadata"].get("labels") or {})

    # The kubernetes-auth backend goes too (its Secrets kept): no backend is left
    # for an operator the next tests start.
    app.call("DELETE", app.backends("vault-k8s"))
    eventually(lambda: app.gone("vault-k8s"), 30, "the deletion")


def seed(openbao: OpenBaoServer, prefix: str, items: dict[str, dict[str, str]]) -> None:
    for path, data in items.items():
        openbao.request("POST", f"/v1/secret/data/{prefix}/{path}", {"data": data})


def vault_spec(openbao: OpenBaoServer, prefix: str, **extra: Any) -> dict[str, Any]:
    """A token-auth Vault backend syncing ``secret/data/<prefix>/**`` to ``external/vault/**``."""
    return {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "authMethod": "token",
            "authConfigPath": "creds/vault-token",
        },
        "pathMapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }


def vault_kubernetes_spec(
    openbao: OpenBaoServer, prefix: str, mount: str, account: str, **extra: Any
) -> dict[str, Any]:
    """A kubernetes-auth Vault backend: the operator logs in with a TokenRequest token of
    ``account``; syncs ``secret/data/<prefix>/**`` to ``k8s/vault/**``."""
    return {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "authMethod": "kubernetes",
            "authMount": mount,
            "role": ROLE,
            "serviceAccount": account,
        },
        "pathMapping": {"k8s/vault/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        **extra,
    }
