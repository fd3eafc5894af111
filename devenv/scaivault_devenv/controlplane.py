"""A real, local Kubernetes control plane: etcd plus kube-apiserver.

`dev` and the end-to-end tests need a Kubernetes API that behaves like a
cluster's (RBAC, TokenRequest, TokenReview, server-side apply, CRDs) without
Docker. This starts the upstream etcd and kube-apiserver binaries on free
loopback ports, with TLS from a throwaway CA, an admin bearer token, and a
service-account signing key, and writes a kubeconfig for them. It is
synchronous and uses only the standard library for HTTP, so it can be used
before any event loop exists.

The ServiceAccount token issuer is the apiserver's own URL
(``https://127.0.0.1:<port>``), and its OIDC discovery document
(``/.well-known/openid-configuration``) and key set (``/openid/v1/jwks``) are
readable without credentials, as on a managed cluster whose issuer is public:
the cloud emulators fetch them over HTTPS, trusting :attr:`ControlPlane.ca_file`,
to check the tokens presented to their token exchanges.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .binaries import ControlPlaneBinaries, ControlPlaneError, find_binaries
from .processes import LocalServer, ManagedProcess, ServerStartError, free_port

#: what any user, even an anonymous one, may read: the token issuer's discovery
DISCOVERY_ROLE = "system:service-account-issuer-discovery"
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/openid/v1/jwks")
_SERVING_SANS = (
    "IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
)
_LEAF_EXTENSIONS = f"""\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {_SERVING_SANS}
"""


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        raise ControlPlaneError("the `openssl` command is needed to create the local cluster's CA")
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _write_pki(pki: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost and a token signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "3650", "-subj", "/CN=scaivault-federation-dev-ca",
        "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", *ec, "-subj", "/CN=kube-apiserver",
        "-keyout", str(pki / "apiserver.key"), "-out", str(pki / "apiserver.csr"),
    )  # fmt: skip
    (pki / "apiserver.ext").write_text(_LEAF_EXTENSIONS)
    _openssl(
        "x509", "-req", "-in", str(pki / "apiserver.csr"), "-days", "3650",
        "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-set_serial", str(secrets.randbits(63)),
        "-extfile", str(pki / "apiserver.ext"), "-out", str(pki / "apiserver.crt"),
    )  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
        "-out", str(pki / "sa.key"),
    )  # fmt: skip
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def _write_kubelet_client_cert(pki: Path) -> None:
    """The certificate the apiserver presents to kubelets (logs, exec, port-forward)."""
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "-keyout", str(pki / "kubelet-client.key"), "-out", str(pki / "kubelet-client.csr"),
    )  # fmt: skip
    (pki / "kubelet-client.ext").write_text(
        "basicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage = clientAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(pki / "kubelet-client.csr"), "-days", "3650",
        "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-set_serial", str(secrets.randbits(63)),
        "-extfile", str(pki / "kubelet-client.ext"), "-out", str(pki / "kubelet-client.crt"),
    )  # fmt: skip
    (pki / "kubelet-client.key").chmod(0o600)


class ControlPlane(LocalServer):
    """etcd + kube-apiserver under ``state_dir``; use ``with`` or start()/stop().

    With ``node_name`` the apiserver is set up to serve a kubelet of that name
    (see node.py): the Node authorizer beside RBAC, ServiceAccount admission on
    (so pods get their projected tokens), a bearer token for the node and a
    client certificate the apiserver shows the kubelet."""

    def __init__(
        self,
        state_dir: Path,
        binaries: ControlPlaneBinaries | None = None,
        *,
        node_name: str | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.binaries = binaries
        self.node_name = node_name
        self.node_token = secrets.token_urlsafe(32)
        self.server = ""
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.admin_token = secrets.token_urlsafe(32)
        self.ca_file = self.state_dir / "pki" / "ca.crt"
        #: the ``iss`` of ServiceAccount tokens: the apiserver's URL, set by start()
        self.service_account_issuer = ""
        self.etcd_url = ""
        self.start_seconds = 0.0
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self._ssl: ssl.SSLContext | None = None

    def start(self, timeout: float = 120) -> None:
        """Start both servers and wait until the API is fully usable."""
        began = time.monotonic()
        deadline = began + timeout
        binaries = self.binaries or find_binaries()
        self.binaries = binaries
        try:
            self._start(binaries, deadline)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _start(self, binaries: ControlPlaneBinaries, deadline: float) -> None:
        logs = self.state_dir / "logs"
        pki = self.state_dir / "pki"
        if not (pki / "sa.pub").exists():
            _write_pki(pki)
        self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
        tokens = self.state_dir / "tokens.csv"
        lines = [f'{self.admin_token},admin,admin,"system:masters"']
        if self.node_name:
            node_user = f"system:node:{self.node_name}"
            lines.append(f'{self.node_token},{node_user},{node_user},"system:nodes"')
            if not (pki / "kubelet-client.crt").exists():
                _write_kubelet_client_cert(pki)
        tokens.write_text("".join(f"{line}\n" for line in lines))
        tokens.chmod(0o600)

        data = self.state_dir / "etcd"
        shutil.rmtree(data, ignore_errors=True)  # a fresh cluster on every start
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._etcd = ManagedProcess(
            "etcd",
            [
                str(binaries.etcd),
                "--name=controlplane",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=controlplane={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            logs / "etcd.log",
        )
        self._etcd.start()
        self._etcd.wait_until(self._etcd_healthy, _left(deadline), "etcd /health")

        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        self.service_account_issuer = self.server
        self._apiserver = ManagedProcess(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--token-auth-file={tokens}",
                f"--service-account-issuer={self.service_account_issuer}",
                f"--service-account-jwks-uri={self.server}{DISCOVERY_PATHS[1]}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--profiling=false",
                *self._access_args(pki),
            ],
            logs / "kube-apiserver.log",
        )
        self._apiserver.start()
        wait = self._apiserver.wait_until
        wait(lambda: self.request("GET", "/readyz")[0] == 200, _left(deadline), "/readyz")
        wait(self._ensure_default_namespace, _left(deadline), "the default namespace")
        wait(self._rbac_bootstrapped, _left(deadline), "the bootstrap RBAC roles")
        wait(self._discovery_public, _left(deadline), "public issuer discovery")
        self._write_kubeconfig()

    def _access_args(self, pki: Path) -> list[str]:
        if not self.node_name:
            return ["--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount"]
        return [
            "--authorization-mode=Node,RBAC",
            f"--client-ca-file={self.ca_file}",
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            # the node's host name resolves nowhere: reach the kubelet by its IP
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:  # noqa: S310
            return bool(json.load(resp).get("health") == "true")

    def _ensure_default_namespace(self) -> bool:
        status, _ = self.request("GET", "/api/v1/namespaces/default")
        if status == 404:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
            status, _ = self.request("POST", "/api/v1/namespaces", body)
            return status in (201, 409)
        return status == 200

    def _rbac_bootstrapped(self) -> bool:
        path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
        return all(self.request("GET", path + role)[0] == 200 for role in ("cluster-admin", "view"))

    def _discovery_public(self) -> bool:
        """Bind the discovery role to every caller, signed in or not."""
        name = "service-account-issuer-discovery-public"
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": DISCOVERY_ROLE,
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": "system:unauthenticated",
                }
            ],
        }
        path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        if self.request("POST", path, binding)[0] not in (201, 409):
            return False
        return self.request("GET", DISCOVERY_PATHS[0], anonymous=True)[0] == 200

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
            "preferences": {},
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        anonymous: bool = False,
        timeout: float = 10,
    ) -> tuple[int, dict[str, Any]]:
        """One API call; returns (HTTP status, JSON body or {}).

        Authenticates with ``token``, by default the admin token, or with
        nothing if ``anonymous``. Errors with an HTTP status are returned.
        """
        status, raw = self._send(method, path, body, token, anonymous, timeout)
        return status, _json(raw)

    def request_text(self, method: str, path: str, timeout: float = 10) -> tuple[int, str]:
        """One API call answered with text (a pod's log), as the admin."""
        status, raw = self._send(method, path, None, None, False, timeout)
        return status, raw.decode("utf-8", errors="replace")

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        token: str | None,
        anonymous: bool,
        timeout: float,
    ) -> tuple[int, bytes]:
        if not self.server or self._ssl is None:
            raise ControlPlaneError("the control plane is not started")
        headers = {"Accept": "application/json"}
        if not anonymous:
            headers["Authorization"] = f"Bearer {token or self.admin_token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.server + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl) as resp:  # noqa: S310
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd. Safe to call at any time, repeatedly."""
        for proc in (self._apiserver, self._etcd):
            if proc is not None:
                proc.stop()

    @property
    def running(self) -> bool:
        return all(p is not None and p.running for p in (self._etcd, self._apiserver))

    @property
    def pids(self) -> dict[str, int]:
        """kube-apiserver's and etcd's processes, while they run (for CPU accounting)."""
        procs = {"kube-apiserver": self._apiserver, "etcd": self._etcd}
        return {n: p.pid for n, p in procs.items() if p is not None and p.pid is not None}


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ServerStartError("the control plane did not start within the timeout")
    return left


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
