"""What the end-to-end tests of FederationLease run on: a control plane of their own
with operator processes each watching one namespace (so that one can be killed while
another keeps a lease), a Vault backend logging in with the lease AppRole, and a
watcher that logs in to PostgreSQL every second with what the Secret holds."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao_engines import DatabaseRole
from scaivault_devenv.postgres import PostgresServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import LEASE_ID_ANNOTATION
from tests.backends.harness_leases import LeaseServers

from .helpers import API, Cluster, decoded, deployment, eventually
from .operator_process import start_operator

SYSTEM = "scaivault-system"
#: a replica that stops renewing its Lease loses its resources this much later
MEMBERSHIP_SECONDS = 6


@dataclass
class Operator:
    """One operator process and where it serves ``/metrics``."""

    proc: ManagedProcess
    log: Path
    metrics_port: int

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def issued(self, operation: str = "issue") -> float:
        """Credentials (or with ``issue_certificate``, certificates) this process asked
        Vault for."""
        return self.value("scaivault_backend_calls_total", operation=operation)

    def kill(self) -> None:
        """SIGKILL: no clean stop, nothing revoked, the Lease left to expire."""
        assert self.proc.pid is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.stop()


class Operators:
    """Operator processes on ``plane``, each watching one namespace."""

    def __init__(self, plane: ControlPlane, folder: Path) -> None:
        self.plane = plane
        self.folder = folder
        self.started: list[Operator] = []

    def start(self, name: str, namespace: str, *, peering: str | None = None) -> Operator:
        """A standalone operator, or with ``peering`` a replica of that group."""
        port = free_port()
        log = self.folder / f"{name}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "SCAIVAULT_OPERATOR_NAMESPACE": SYSTEM,
            "SCAIVAULT_LEASE_DURATION_SECONDS": str(MEMBERSHIP_SECONDS),
            "HOSTNAME": name,
        }
        flags = ["--namespace", namespace, "--metrics-port", str(port)]
        flags += ["--metrics-addr", "127.0.0.1"]
        if peering is not None:
            flags += ["--peering", peering]
        proc = start_operator(name, log, env, *flags, standalone=peering is None)
        operator = Operator(proc, log, port)
        self.started.append(operator)
        return operator

    def stop(self) -> None:
        for operator in self.started:
            operator.proc.stop()


def approle_login(servers: LeaseServers, token_ttl: int | None) -> dict[str, str]:
    """The credentials of the lease AppRole, or with ``token_ttl`` (seconds) of a role
    of the same policy whose tokens live that long at most."""
    engines = servers.engines
    if token_ttl is None:
        return {"role_id": engines.role_id, "secret_id": engines.secret_id}
    role = f"/v1/auth/{engines.approle_mount}/role/ttl-{token_ttl}"
    ttl = f"{token_ttl}s"
    body = {"token_policies": [engines.policy], "token_ttl": ttl, "token_max_ttl": ttl}
    servers.bao.request("POST", role, body)
    role_id = servers.bao.request("GET", f"{role}/role-id")["data"]["role_id"]
    secret_id = servers.bao.request("POST", f"{role}/secret-id")["data"]["secret_id"]
    return {"role_id": str(role_id), "secret_id": str(secret_id)}


async def lease_namespace(
    kube: KubeClient, servers: LeaseServers, prefix: str, token_ttl: int | None = None
) -> Cluster:
    """A fresh namespace with a Vault FederationBackend ``vault`` logging in with the
    AppRole that may issue and renew leases (see :func:`approle_login`), and a
    Deployment ``app``."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await kube.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    cluster = Cluster(kube, namespace)
    engines = servers.engines
    await cluster.put_credentials("vault-approle", approle_login(servers, token_ttl))
    await cluster.create_backend(
        "vault",
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": servers.bao.address,
                "authMethod": "approle",
                "authMount": engines.approle_mount,
                "authConfigPath": "vault/approle",
            },
            "pathMapping": {"unused/*": "secret/data/unused/*"},
            "mode": "proxy",
        },
    )
    await kube.post(
        f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("app", {"app": "app"})
    )
    return cluster


def lease_url(cluster: Cluster, name: str | None = None) -> str:
    base = f"{API}/namespaces/{cluster.namespace}/federationleases"
    return f"{base}/{name}" if name else base


async def create_lease(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": "FederationLease",
        "metadata": {"name": name},
        "spec": {"backendRef": "vault", **spec},
    }
    await cluster.kube.post(lease_url(cluster), body)


async def lease_status(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict((await cluster.kube.get(lease_url(cluster, name))).get("status") or {})


async def wait_lease(
    cluster: Cluster, name: str, check: Any, timeout: float = 60, what: str = "the lease"
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await lease_status(cluster, name)
        return status if status and check(status) else None

    return await eventually(probe, timeout, what)


async def gone(cluster: Cluster, url: str, timeout: float = 30) -> None:
    async def probe() -> bool:
        try:
            await cluster.kube.get(url)
        except NotFoundError:
            return True
        return False

    await eventually(probe, timeout, f"{url} to be gone")


@dataclass(frozen=True)
class Held:
    """What the Secret holds: the lease id and the credentials."""

    lease_id: str
    user: str
    password: str = field(repr=False)


async def held(cluster: Cluster, secret: str) -> Held:
    found = await cluster.secret(secret)
    assert found is not None, f"no Secret {secret}"
    data = decoded(found)
    return Held(
        found["metadata"]["annotations"][LEASE_ID_ANNOTATION], data["username"], data["password"]
    )


def role_users(servers: LeaseServers, role: str) -> set[str]:
    """The PostgreSQL users the database engine made for ``role`` and has not dropped
    (its user names carry the role's name, cut to eight characters)."""
    return {u for u in servers.dynamic_roles() if f"-{role[:8]}-" in u}


async def users_dropped(servers: LeaseServers, role: DatabaseRole) -> None:
    """Wait until ``role`` has no PostgreSQL user left (its leases revoked)."""

    async def dropped() -> bool:
        return not role_users(servers, role.name)

    await eventually(dropped, 10, f"the PostgreSQL users of role {role.name} to be dropped")


@dataclass
class LoginWatch:
    """Every ``every`` seconds for ``seconds``: the Secret read from the apiserver and a
    login to PostgreSQL with what it holds. Counts and times only in what it reports;
    the passwords seen are kept for the canary scans."""

    plane: ControlPlane
    postgres: PostgresServer
    namespace: str
    secret: str
    seconds: float
    every: float = 1.0
    logins: int = 0
    failures: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    lease_ids: list[str] = field(default_factory=list)
    passwords: set[str] = field(default_factory=set)
    #: at each change of credentials: whether the replaced ones still logged in (a
    #: workload not yet restarted keeps working through the grace period)
    replaced_log_in: list[bool] = field(default_factory=list)
    _last: tuple[str, str] | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="login-watch", daemon=True)
        self._thread.start()

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        began = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            at = began + tick * self.every
            if at - began > self.seconds:
                return
            self._stop.wait(max(0.0, at - time.monotonic()))
            self._check(time.monotonic() - began)
            tick += 1

    def _check(self, elapsed: float) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/secrets/{self.secret}"
        try:
            status, secret = self.plane.request("GET", path)
        except OSError as exc:
            self.failures.append(f"{elapsed:.0f}s: Secret not read ({type(exc).__name__})")
            return
        if status != 200:
            self.failures.append(f"{elapsed:.0f}s: Secret not read (HTTP {status})")
            return
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        user, password = data.get("DB_USER", ""), data.get("DB_PASSWORD", "")
        self.passwords.add(password)
        for seen, value in (
            (self.users, user),
            (self.lease_ids, secret["metadata"]["annotations"].get(LEASE_ID_ANNOTATION, "")),
        ):
            if not seen or seen[-1] != value:
                seen.append(value)
        self.logins += 1
        if not self.postgres.can_log_in(user, password):
            self.failures.append(f"{elapsed:.0f}s: {user!r} could not log in")
        if self._last is not None and self._last[0] != user:
            self.replaced_log_in.append(self.postgres.can_log_in(*self._last))
        self._last = (user, password)
