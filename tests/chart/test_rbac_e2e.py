"""The chart's RBAC, proven by running the operator and the API with exactly it.

The chart is installed with ``helm install`` into the test apiserver; a
TokenRequest gives a token of the chart's ServiceAccount; both processes run
with a kubeconfig holding only that token and the arguments and environment
of the rendered Deployment's containers. Their Kubernetes calls go through a
recording proxy, so the tests check both directions: nothing they do is
forbidden (the rules suffice), and every verb the rules grant was used (no
rule is there for nothing). SubjectAccessReviews then show what the identity
cannot do.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scaivault_federation.dev.cluster import ensure_namespace, install_crd
from scaivault_federation.dev.controlplane import ControlPlane
from scaivault_federation.dev.openbao import OpenBaoServer
from scaivault_federation.dev.processes import ManagedProcess, free_port

from .conftest import Release
from .identity import can, request_token, who_am_i, write_kubeconfig
from .recorder import Call, RecordingProxy

pytestmark = pytest.mark.e2e

T = TypeVar("T")
API_GROUP = "federation.scaivault.io"
CR_API = f"/apis/{API_GROUP}/v1alpha1"
FORBIDDEN_LOG_MARKERS = ("Forbidden", " 403", "Not enough permissions")

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


def grants(role: dict[str, Any]) -> set[Grant]:
    """The (group, resource, verb) triples a (Cluster)Role grants."""
    out: set[Grant] = set()
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


@dataclass
class Identity:
    release: Release
    user: str
    token: str
    tmp: Path

    def container(self, name: str) -> dict[str, Any]:
        deployment = self.release.get(
            f"/apis/apps/v1/namespaces/{self.release.namespace}/deployments/{self.release.fullname}"
        )
        containers = deployment["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == name)

    def environment(self, container: dict[str, Any], kubeconfig: Path) -> dict[str, str]:
        """The container's environment (fieldRefs resolved) plus the kubeconfig."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            elif item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace":
                env[item["name"]] = self.release.namespace
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

    def role(self, suffix: str) -> dict[str, Any]:
        path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
        return self.release.get(path + f"{self.release.fullname}-{suffix}")


@pytest.fixture(scope="module")
def identity(
    release_factory: Callable[..., Release],
    control_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Identity:
    began = time.monotonic()
    release = release_factory("rbac")
    install_crd(control_plane)  # installed by helm; this waits until it is served
    token = request_token(control_plane, release.namespace, release.fullname)
    user = who_am_i(control_plane, token)
    assert user == f"system:serviceaccount:{release.namespace}:{release.fullname}"
    print(f"helm install + token: {time.monotonic() - began:.1f}s")
    return Identity(release, user, token, tmp_path_factory.mktemp("rbac"))


@dataclass
class Running:
    process: ManagedProcess
    proxy: RecordingProxy
    url: str

    def log(self) -> str:
        return self.process.log_path.read_text()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310  (loopback)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def operator(identity: Identity) -> Iterator[Running]:
    """``scaivault-federation run`` with the Deployment's args, as the ServiceAccount."""
    container = identity.container("operator")
    health, metrics = free_port(), free_port()
    args: list[str] = []
    for arg in container["args"]:
        if arg.startswith("--liveness="):
            arg = f"--liveness=http://127.0.0.1:{health}/healthz"
        elif arg.startswith("--metrics-port="):
            arg = f"--metrics-port={metrics}"
        args.append(arg)
    args += ["--metrics-addr=127.0.0.1", "--verbose"]
    with RecordingProxy(identity.release.cp.server, identity.release.cp.ca_file) as proxy:
        kubeconfig = identity.kubeconfig(proxy.url, "operator")
        process = ManagedProcess(
            "operator",
            [sys.executable, "-m", "scaivault_federation.cli", *args],
            identity.tmp / "operator.log",
            env=identity.environment(container, kubeconfig),
        )
        process.start()
        try:
            # The Deployment's liveness probe, answered only once startup is done.
            url = f"http://127.0.0.1:{health}/healthz"
            process.wait_until(lambda: _http_ok(url), 60, "the operator's liveness endpoint")
            assert _http_ok(f"http://127.0.0.1:{metrics}/metrics")
            yield Running(process, proxy, url)
        finally:
            process.stop()


@pytest.fixture(scope="module")
def api(identity: Identity) -> Iterator[Running]:
    """``scaivault-federation api`` with the Deployment's args, as the ServiceAccount."""
    container = identity.container("api")
    port = free_port()
    args = [f"--port={port}" if a.startswith("--port=") else a for a in container["args"]]
    args += ["--host=127.0.0.1"]
    with RecordingProxy(identity.release.cp.server, identity.release.cp.ca_file) as proxy:
        kubeconfig = identity.kubeconfig(proxy.url, "api")
        process = ManagedProcess(
            "api",
            [sys.executable, "-m", "scaivault_federation.cli", *args],
            identity.tmp / "api.log",
            env=identity.environment(container, kubeconfig),
        )
        process.start()
        try:
            url = f"http://127.0.0.1:{port}"
            process.wait_until(lambda: _http_ok(f"{url}/healthz"), 60, "the API's /healthz")
            yield Running(process, proxy, url)
        finally:
            process.stop()


class Namespace:
    """A fresh application namespace, driven with the admin token."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.name = f"app-{uuid.uuid4().hex[:8]}"
        ensure_namespace(cp, self.name)

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, doc = self.cp.request(method, path, body)
        assert status < 300, f"{method} {path}: {status} {doc.get('message')}"
        return doc

    def put_secret(self, name: str, data: dict[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {k: b64(v) for k, v in data.items()},
        }
        self.call("POST", f"/api/v1/namespaces/{self.name}/secrets", body)

    def secret(self, name: str) -> dict[str, Any] | None:
        status, doc = self.cp.request("GET", f"/api/v1/namespaces/{self.name}/secrets/{name}")
        return doc if status == 200 else None

    def backends(self, name: str = "") -> str:
        base = f"{CR_API}/namespaces/{self.name}/federationbackends"
        return f"{base}/{name}" if name else base

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.call("GET", self.backends(name)).get("status") or {}
        return status


def seed(openbao: OpenBaoServer, prefix: str, items: dict[str, dict[str, str]]) -> None:
    for path, data in items.items():
        openbao.request("POST", f"/v1/secret/data/{prefix}/{path}", {"data": data})


def merge_patch(cp: ControlPlane, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310  (the test apiserver)
        cp.server + path,
        json.dumps(body).encode(),
        {
            "Authorization": f"Bearer {cp.admin_token}",
            "Content-Type": "application/merge-patch+json",
        },
        method="PATCH",
    )
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
        assert resp.status == 200


def test_operator_syncs_and_reports_a_conflict_as_the_service_account(
    identity: Identity, operator: Running, openbao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    began = time.monotonic()
    app = Namespace(control_plane)
    prefix = f"rbac-{uuid.uuid4().hex[:8]}"
    seed(
        openbao,
        prefix,
        {"db": {"password": "pw-1"}, "api": {"key": "k-1"}, "c": {"v": "remote"}, "old": {"v": "x"}},
    )
    app.put_secret("creds-vault-token", {"token": openbao.root_token})
    app.put_secret("external-vault-c", {"v": "local"})  # unmanaged, at a synced path
    spec = {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "authMethod": "token",
            "authConfigPath": "creds/vault-token",
        },
        "pathMapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
        "prune": True,
        "deletionPolicy": "Retain",
    }
    body = {
        "apiVersion": f"{API_GROUP}/v1alpha1",
        "kind": "FederationBackend",
        "metadata": {"name": "vault"},
        "spec": spec,
    }
    app.call("POST", app.backends(), body)

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
    events = app.call("GET", f"/api/v1/namespaces/{app.name}/events")["items"]
    assert "ConflictDetected" in {e["reason"] for e in events}
    print(f"first sync as the ServiceAccount: {time.monotonic() - began:.1f}s")

    # A change (update), a remote deletion with prune (delete), a manual trigger.
    seed(openbao, prefix, {"db": {"password": "pw-2"}})
    openbao.request("DELETE", f"/v1/secret/metadata/{prefix}/old")
    before = status["lastSync"]
    time.sleep(1.1)  # lastSync has a resolution of one second
    stamp = f"{time.time()}"
    merge_patch(
        control_plane,
        app.backends("vault"),
        {"metadata": {"annotations": {f"{API_GROUP}/sync-requested-at": stamp}}},
    )
    eventually(lambda: app.status("vault").get("lastSync") != before, 30, "the manual sync")
    db = app.secret("external-vault-db")
    assert db is not None and unb64(db["data"]) == {"password": "pw-2"}
    assert app.secret("external-vault-old") is None

    # Deleting the CR with Retain releases the Secrets (patch) and the finalizer.
    app.call("DELETE", app.backends("vault"))
    eventually(
        lambda: control_plane.request("GET", app.backends("vault"))[0] == 404, 30, "deletion"
    )
    released = app.secret("external-vault-db")
    assert released is not None
    assert "app.kubernetes.io/managed-by" not in (released["metadata"].get("labels") or {})

    calls = operator.proxy.snapshot()
    assert denied(calls) == []
    log = operator.log()
    assert not [m for m in FORBIDDEN_LOG_MARKERS if m in log], log[-3000:]
    assert _http_ok(operator.url)

    # Every verb the operator's ClusterRole grants was used, and nothing else.
    granted = grants(identity.role("operator"))
    assert used(calls) == granted, (sorted(used(calls) - granted), sorted(granted - used(calls)))


def _api(
    running: Running,
    method: str,
    path: str,
    token: str,
    body: Any = None,
) -> tuple[int, dict[str, Any]]:
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


def test_api_serves_backends_and_secrets_as_the_service_account(
    identity: Identity, api: Running, openbao: OpenBaoServer, control_plane: ControlPlane
) -> None:
    app = Namespace(control_plane)
    admin = control_plane.admin_token
    prefix = f"rbac-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"db": {"password": "proxied"}})
    app.put_secret("creds-vault-token", {"token": openbao.root_token})

    # A caller without rights: TokenReview and SubjectAccessReview answer, 403.
    status, _ = control_plane.request(
        "POST",
        f"/api/v1/namespaces/{app.name}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}},
    )
    assert status == 201
    nobody = request_token(control_plane, app.name, "nobody")
    status, error = _api(api, "GET", f"/v1/federation/backends?namespace={app.name}", nobody)
    assert status == 403, error
    status, _ = _api(api, "GET", "/v1/federation/backends", "not-a-token")
    assert status == 401

    # Create a proxy backend, change it, read through it.
    body = {
        "name": "vault-proxy",
        "namespace": app.name,
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "auth_method": "token",
            "auth_config_path": "creds/vault-token",
        },
        "path_mapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "proxy",
    }
    status, created = _api(api, "POST", "/v1/federation/backends", admin, body)
    assert status == 201, created
    ident = created["id"]
    status, listed = _api(api, "GET", f"/v1/federation/backends?namespace={app.name}", admin)
    assert status == 200 and [b["id"] for b in listed["backends"]] == [ident]
    status, patched = _api(api, "PATCH", f"/v1/federation/backends/{ident}", admin, {"suspend": False})
    assert status == 200, patched
    status, read = _api(api, "GET", f"/v1/secrets/external/vault/db?namespace={app.name}", admin)
    assert status == 200, read
    assert read["data"] == {"password": "proxied"} and read["source"] == "proxy"

    # Local secrets: create, replace, read, delete.
    path = f"/v1/secrets/local/app/config?namespace={app.name}"
    status, _ = _api(api, "PUT", path, admin, {"data": {"a": "1"}})
    assert status == 201
    status, _ = _api(api, "PUT", path, admin, {"data": {"a": "2"}})
    assert status == 200
    status, read = _api(api, "GET", path, admin)
    assert status == 200 and read["data"] == {"a": "2"} and read["source"] == "local"
    status, _ = _api(api, "DELETE", path, admin)
    assert status == 204

    status, _ = _api(api, "DELETE", f"/v1/federation/backends/{ident}", admin)
    assert status == 204
    eventually(
        lambda: control_plane.request("GET", app.backends("vault-proxy"))[0] == 404,
        30,
        "the backend to go",
    )

    calls = api.proxy.snapshot()
    assert denied(calls) == []
    log = api.log()
    assert not [m for m in FORBIDDEN_LOG_MARKERS if m in log], log[-3000:]
    granted = grants(identity.role("api"))
    assert used(calls) == granted, (sorted(used(calls) - granted), sorted(granted - used(calls)))


@pytest.mark.parametrize(
    ("verb", "group", "resource", "namespace"),
    [
        ("create", "rbac.authorization.k8s.io", "clusterroles", None),
        ("bind", "rbac.authorization.k8s.io", "clusterroles", None),
        ("escalate", "rbac.authorization.k8s.io", "roles", "default"),
        ("create", "rbac.authorization.k8s.io", "rolebindings", "default"),
        ("delete", "", "namespaces", None),
        ("get", "", "configmaps", "default"),
        ("create", "", "pods", "default"),
        ("create", "", "serviceaccounts/token", "default"),
        ("impersonate", "", "serviceaccounts", "default"),
        ("update", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("delete", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("update", API_GROUP, "federationbackends", "default"),
        ("deletecollection", "", "secrets", "default"),
        ("watch", "", "secrets", "default"),
        ("create", "apps", "deployments", "default"),
        ("create", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None),
    ],
)
def test_service_account_cannot_do_more(
    identity: Identity,
    control_plane: ControlPlane,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
) -> None:
    resource, _, subresource = resource.partition("/")
    assert not can(
        control_plane,
        identity.user,
        verb,
        resource,
        group=group,
        namespace=namespace,
        subresource=subresource,
    )


def test_service_account_can_what_it_needs(identity: Identity, control_plane: ControlPlane) -> None:
    """The other side of the SubjectAccessReviews above, for a namespace it never saw."""
    for verb, group, resource in [
        ("list", "", "secrets"),
        ("create", "", "secrets"),
        ("patch", API_GROUP, "federationbackends"),
        ("create", "", "events"),
    ]:
        assert can(control_plane, identity.user, verb, resource, group=group, namespace="elsewhere")
