"""Where the Kubernetes API is and how to authenticate to it.

Read once from a kubeconfig file (the ``kubeconfig`` setting or
``~/.kube/config``) or from the pod's service account, the same sources kopf
itself logs in with.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class KubeConnection:
    server: str
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    insecure: bool = False
    default_namespace: str = "default"

    def bearer_token(self) -> str | None:
        """The token, re-read from its file each time (projected tokens rotate)."""
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return self.token

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure:
            return False
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.client_cert is not None:
            context.load_cert_chain(str(self.client_cert), str(self.client_key or self.client_cert))
        return context


def _materialize(entry: dict[str, Any], key: str, base: Path) -> Path | None:
    """A kubeconfig field given either as ``key`` (a file) or ``key-data`` (base64)."""
    if entry.get(f"{key}-data"):
        handle = tempfile.NamedTemporaryFile(prefix="kube-", suffix=".pem", delete=False)  # noqa: SIM115
        with handle:
            handle.write(base64.b64decode(entry[f"{key}-data"]))
        return Path(handle.name)
    if entry.get(key):
        path = Path(entry[key])
        return path if path.is_absolute() else base / path
    return None


def from_kubeconfig(path: Path, context_name: str | None = None) -> KubeConnection:
    doc = yaml.safe_load(path.read_text())
    context_name = context_name or doc.get("current-context")
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    if context_name not in contexts:
        raise KubeConfigError(f"context {context_name!r} not found in {path}")
    context = contexts[context_name]
    clusters = {c["name"]: c["cluster"] for c in doc.get("clusters", [])}
    users = {u["name"]: u.get("user") or {} for u in doc.get("users", [])}
    cluster = clusters[context["cluster"]]
    user = users.get(context.get("user", ""), {})
    base = path.parent
    token_file = user.get("tokenFile")
    return KubeConnection(
        server=cluster["server"].rstrip("/"),
        token=user.get("token"),
        token_file=Path(token_file) if token_file else None,
        ca_file=_materialize(cluster, "certificate-authority", base),
        client_cert=_materialize(user, "client-certificate", base),
        client_key=_materialize(user, "client-key", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        default_namespace=context.get("namespace") or "default",
    )


def in_cluster(host: str, port: int = 443) -> KubeConnection:
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return KubeConnection(
        server=f"https://{host}:{port}",
        token_file=SERVICE_ACCOUNT_DIR / "token",
        ca_file=SERVICE_ACCOUNT_DIR / "ca.crt",
        default_namespace=namespace_file.read_text().strip()
        if namespace_file.exists()
        else "default",
    )


def load_connection(
    kubeconfig: str | Path | None = None,
    *,
    service_host: str | None = None,
    service_port: int = 443,
) -> KubeConnection:
    """The kubeconfig (the first file of a ``KUBECONFIG``-style list), else in-cluster
    (the service host Kubernetes sets, and the pod's ServiceAccount), else
    ``~/.kube/config``."""
    if kubeconfig:
        first = str(kubeconfig).split(os.pathsep)[0]
        return from_kubeconfig(Path(first))
    if service_host and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster(service_host, service_port)
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return from_kubeconfig(default)
    raise KubeConfigError("no kubeconfig found: set KUBECONFIG or run in a cluster")
