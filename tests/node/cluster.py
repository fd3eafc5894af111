"""What the real-node tests do to the cluster: the API, helm, pods, containers."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.helm import run
from scaivault_devenv.node import Node

T = TypeVar("T")
CGROUP = Path("/sys/fs/cgroup")


def eventually(probe: Callable[[], T | None], timeout: float = 60, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except (AssertionError, OSError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last!r}")
        time.sleep(0.25)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class NodeCluster:
    control_plane: ControlPlane
    node: Node
    helm: Path
    state_dir: Path

    # -- API ----------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        status, result = self.control_plane.request(method, path, body, timeout=30)
        if status >= 400 and status not in ok:
            raise AssertionError(f"{method} {path}: {status} {result.get('message')}")
        return result

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body, ok=(409,))

    def namespace(self, name: str) -> str:
        self.create("/api/v1/namespaces", {"metadata": {"name": name}})
        return name

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        status, body = self.control_plane.request(
            "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}"
        )
        return body if status == 200 else None

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        secret = self.secret(namespace, name)
        if secret is None or key not in secret.get("data", {}):
            return None
        return base64.b64decode(secret["data"][key]).decode()

    def secrets_of(self, namespace: str, selector: str) -> dict[str, str]:
        """Name -> resourceVersion of the Secrets matching ``selector``."""
        body = self.call("GET", f"/api/v1/namespaces/{namespace}/secrets?labelSelector={selector}")
        return {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in body["items"]}

    def backend_status(self, namespace: str, name: str) -> dict[str, Any]:
        group = "/apis/federation.scaivault.io/v1alpha1"
        path = f"{group}/namespaces/{namespace}/federationbackends/{name}"
        return dict(self.call("GET", path).get("status") or {})

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        body = self.call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
        return [p for p in body["items"] if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self, namespace: str, selector: str, count: int) -> list[dict[str, Any]] | None:
        pods = [p for p in self.pods(namespace, selector) if is_ready(p)]
        return pods if len(pods) == count else None

    def token(self, namespace: str, account: str, audience: str | None = None) -> str:
        spec: dict[str, Any] = {"expirationSeconds": 600}
        if audience:
            spec["audiences"] = [audience]
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        return str(self.call("POST", path, {"spec": spec})["status"]["token"])

    # -- helm ---------------------------------------------------------------

    def helm_run(self, *args: str | Path) -> str:
        return run([self.helm, *args, "--kubeconfig", self.control_plane.kubeconfig], timeout=600)

    # -- containers on this node ---------------------------------------------

    def container_pid(self, pod: dict[str, Any], container: str) -> int:
        """The host pid of a running container's main process."""
        container_id = _container_id(pod, container)
        done = subprocess.run(
            ["ctr", "--address", str(self.node.socket), "-n", "k8s.io", "tasks", "ls"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stdout.splitlines()[1:]:
            task, pid, *_ = line.split()
            if task == container_id:
                return int(pid)
        raise AssertionError(f"no task for container {container} of {pod['metadata']['name']}")

    def memory_peak(self, pod: dict[str, Any], container: str) -> int:
        """The highest memory use of a container's cgroup (bytes, page cache included)."""
        container_id = _container_id(pod, container)
        for name in (
            "memory/kubepods/**/{}/memory.max_usage_in_bytes",
            "kubepods/**/{}/memory.peak",
        ):
            for path in CGROUP.glob(name.format(container_id)):
                return int(path.read_text())
        raise AssertionError(f"no memory cgroup for container {container_id}")


def http_get(url: str, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http_call(urllib.request.Request(url, headers=headers), timeout)  # noqa: S310


def http_post_json(url: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", **headers}
    data = json.dumps(body).encode()
    return http_call(urllib.request.Request(url, data, headers, method="POST"), 30)  # noqa: S310


def http_call(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    """Status and body of one plain-HTTP request (an error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _container_id(pod: dict[str, Any], container: str) -> str:
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status["name"] == container and status.get("containerID"):
            return str(status["containerID"]).split("://", 1)[1]
    raise AssertionError(f"container {container} of {pod['metadata']['name']} has no id")
