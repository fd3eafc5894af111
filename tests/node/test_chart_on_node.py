"""The chart on a real node, in the order a platform team lives it.

The release is first installed from the previous chart version (with this
checkout's image), then upgraded to this chart, rolled back and upgraded
again; it syncs from OpenBao running as a pod behind a Service, serves the API
through the chart's Service, runs two replicas that hand over, syncs 2,000
secrets inside its memory limit and is finally uninstalled, leaving the
synced Secrets in place. The tests run in this order and share the release.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.checkout import ROOT
from scaivault_devenv.helm import CHART
from scaivault_devenv.images import OperatorImage
from scaivault_devenv.node_tour import openbao_manifests
from scaivault_federation.api.auth import TOKEN_AUDIENCE

from .cluster import NodeCluster, b64, eventually, http_get, http_post_json, is_ready

pytestmark = pytest.mark.e2e

RELEASE = "svf"
NAMESPACE = "scaivault-system"
APPS = "apps"
FULLNAME = f"{RELEASE}-scaivault-federation"
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"
#: The chart users upgrade from: the last released state of this repository's
#: chart (the commit below is where the previous version was cut).
PREVIOUS_CHART_COMMIT = "3cb4618"
IMAGE_USER = 65532
MEMORY_SECRETS = 2000
LEASE_SECONDS = 6
BACKEND = "vault-node"
CREDENTIALS_LABEL = {"federation.scaivault.io/credentials": "true"}
FB_PATH = f"/apis/federation.scaivault.io/v1alpha1/namespaces/{APPS}/federationbackends"


class OpenBaoPod:
    """OpenBao in dev mode as a Deployment behind a Service in ``apps``."""

    def __init__(self, cluster: NodeCluster) -> None:
        self.cluster = cluster
        self.in_cluster = f"http://openbao.{APPS}.svc.cluster.local:8200"
        self.address = ""

    def deploy(self) -> None:
        for manifest in openbao_manifests(APPS):
            self.cluster.node.apply(manifest)
        service = self.cluster.call("GET", f"/api/v1/namespaces/{APPS}/services/openbao")
        # the host reaches the Service address through kube-proxy's rules
        self.address = f"http://{service['spec']['clusterIP']}:8200"
        eventually(
            lambda: self.cluster.ready_pods(APPS, "app=openbao", 1), 90, "OpenBao's pod Ready"
        )
        eventually(lambda: http_get(f"{self.address}/v1/sys/health")[0] == 200, 30, "OpenBao")

    def write(self, path: str, data: dict[str, str]) -> None:
        url = f"{self.address}/v1/secret/data/{path}"
        status, _ = http_post_json(url, {"data": data}, {"X-Vault-Token": "root"})
        assert status in (200, 204)


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def previous_chart(node_cluster: NodeCluster) -> Path:
    """The chart at PREVIOUS_CHART_COMMIT, extracted from this repository's history."""
    target = node_cluster.state_dir / "previous-chart"
    archive = target.with_suffix(".tar")
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), PREVIOUS_CHART_COMMIT, "charts/"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"the previous chart ({PREVIOUS_CHART_COMMIT}) needs this repository's history "
        f"(a full clone): {done.stderr.strip()}"
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "charts" / "scaivault-federation"


@pytest.fixture(scope="module")
def openbao(node_cluster: NodeCluster) -> OpenBaoPod:
    node_cluster.namespace(APPS)
    pod = OpenBaoPod(node_cluster)
    pod.deploy()
    return pod


@pytest.fixture(scope="module")
def image_values(operator_image: OperatorImage) -> list[str]:
    return [
        *("--set", f"image.repository={operator_image.repository}"),
        *("--set", f"image.tag={operator_image.tag}"),
        *("--set", "image.pullPolicy=Never"),
    ]


@pytest.fixture(scope="module")
def release(
    node_cluster: NodeCluster, image_values: list[str], previous_chart: Path
) -> Iterator[Release]:
    made = Release(node_cluster, image_values)
    yield made
    made.uninstall()


class Release:
    def __init__(self, cluster: NodeCluster, image_values: list[str]) -> None:
        self.cluster = cluster
        self.image_values = image_values
        self.installed = False

    def helm(self, verb: str, chart: Path | None, *extra: str, wait: bool = True) -> float:
        began = time.monotonic()
        args: list[str | Path] = [verb, RELEASE]
        if chart is not None:
            args.append(chart)
        args += ["--namespace", NAMESPACE]
        if verb == "install":
            args.append("--create-namespace")
        if verb in ("install", "upgrade"):
            args += [*self.image_values, *extra]
        if wait:
            args += ["--wait", "--timeout", "5m"]
        self.cluster.helm_run(*args)
        self.installed = verb != "uninstall"
        return time.monotonic() - began

    def uninstall(self) -> None:
        if self.installed:
            self.cluster.helm_run("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
            self.installed = False

    def operator_pods(self, count: int = 1) -> list[dict[str, Any]]:
        """The release's operator pods, once there are ``count`` and all are Ready."""

        def ready() -> list[dict[str, Any]] | None:
            pods = [p for p in self.cluster.pods(NAMESPACE, SELECTOR) if _has(p, "operator")]
            return pods if len(pods) == count and all(is_ready(p) for p in pods) else None

        return eventually(ready, 180, f"{count} Ready operator pod(s)")


def _has(pod: dict[str, Any], container: str) -> bool:
    return any(c["name"] == container for c in pod["spec"]["containers"])


def _service_url(cluster: NodeCluster, port_name: str) -> str:
    """A port of the chart's Service (its ClusterIP, reached from the host through
    kube-proxy's rules, as any client in the cluster would)."""
    body = cluster.call("GET", f"/api/v1/namespaces/{NAMESPACE}/services?labelSelector={SELECTOR}")
    for service in body["items"]:
        for port in service["spec"]["ports"]:
            if port["name"] == port_name:
                return f"http://{service['spec']['clusterIP']}:{port['port']}"
    raise AssertionError(f"no Service of the release has a port {port_name!r}")


def _create_backend(cluster: NodeCluster, openbao: OpenBaoPod, name: str, remote: str) -> None:
    cluster.create(
        FB_PATH,
        {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": {
                "type": "hashicorp-vault",
                "config": {"endpoint": openbao.in_cluster, "authConfigPath": "creds/vault"},
                "pathMapping": {f"{name}/**": f"secret/data/{remote}/**"},
                "mode": "sync",
                "syncInterval": "10s",
            },
        },
    )


def _synced(cluster: NodeCluster, name: str, count: int) -> dict[str, Any] | None:
    status = cluster.backend_status(APPS, name)
    return status if status.get("secretsSynced") == count else None


# -- the scenario ------------------------------------------------------------------


def test_upgrade_from_the_previous_chart_and_rollback_keep_every_secret(
    node_cluster: NodeCluster, openbao: OpenBaoPod, release: Release, previous_chart: Path
) -> None:
    cluster = node_cluster
    cluster.create(
        f"/api/v1/namespaces/{APPS}/secrets",
        {
            "metadata": {"name": "creds-vault", "labels": CREDENTIALS_LABEL},
            "data": {"token": b64("root")},
        },
    )
    for index in range(5):
        openbao.write(f"node/app/s{index}", {"value": f"canary-node-{index}-v1"})
    seconds = release.helm("install", previous_chart)
    print(f"\nhelm install --wait (previous chart): {seconds:.1f} s")
    _create_backend(cluster, openbao, BACKEND, "node/app")
    eventually(lambda: _synced(cluster, BACKEND, 5), 120, "5 Secrets synced by the previous chart")
    selector = f"federation.scaivault.io/backend={BACKEND}"
    before = cluster.secrets_of(APPS, selector)
    assert len(before) == 5

    seconds = release.helm("upgrade", CHART)
    print(f"helm upgrade --wait (previous -> this chart): {seconds:.1f} s")
    release.operator_pods()
    _change_and_wait(cluster, openbao, 0, "a change synced after the upgrade")
    after = cluster.secrets_of(APPS, selector)
    assert {k: v for k, v in after.items() if k != f"{BACKEND}-s0"} == {
        k: v for k, v in before.items() if k != f"{BACKEND}-s0"
    }, "the upgrade rewrote Secrets whose remote value did not change"

    seconds = release.helm("rollback", None)
    print(f"helm rollback --wait: {seconds:.1f} s")
    release.operator_pods()
    _change_and_wait(cluster, openbao, 1, "a change synced after the rollback")
    rolled = cluster.secrets_of(APPS, selector)
    unchanged = set(before) - {f"{BACKEND}-s0", f"{BACKEND}-s1"}
    assert {k: rolled[k] for k in unchanged} == {k: before[k] for k in unchanged}

    seconds = release.helm("upgrade", CHART)
    print(f"helm upgrade --wait (back to this chart): {seconds:.1f} s")
    release.operator_pods()
    assert cluster.secrets_of(APPS, selector) == rolled


def _change_and_wait(cluster: NodeCluster, openbao: OpenBaoPod, index: int, what: str) -> None:
    value = f"canary-node-{index}-v2"
    openbao.write(f"node/app/s{index}", {"value": value})
    name = f"{BACKEND}-s{index}"
    eventually(lambda: cluster.secret_value(APPS, name, "value") == value, 60, what)


def test_both_containers_ready_as_the_image_user_with_a_read_only_root(
    node_cluster: NodeCluster, release: Release
) -> None:
    cluster = node_cluster
    pods = [p for p in cluster.pods(NAMESPACE, SELECTOR)]
    containers = {c["name"]: (pod, c) for pod in pods for c in pod["spec"]["containers"]}
    assert {"operator", "api"} <= set(containers), sorted(containers)
    for name in ("operator", "api"):
        pod, spec = containers[name]
        statuses = {s["name"]: s for s in pod["status"]["containerStatuses"]}
        assert statuses[name]["ready"], f"{name} is not Ready: {statuses[name]}"
        assert spec.get("readinessProbe") and spec.get("livenessProbe"), name
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        pid = cluster.container_pid(pod, name)
        uids = _status_field(pid, "Uid")
        assert uids.split()[:2] == [str(IMAGE_USER)] * 2, f"{name} runs as {uids}"
        assert _status_field(pid, "NoNewPrivs") == "1"
        assert _status_field(pid, "CapEff") == "0000000000000000"
        root = Path(f"/proc/{pid}/root")
        mount = _root_mount_options(pid)
        assert "ro" in mount.split(","), f"{name}'s root is mounted {mount}"
        assert (root / "opt" / "venv").is_dir()


def _status_field(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _root_mount_options(pid: int) -> str:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5]
    raise AssertionError(f"no root mount for {pid}")


def test_the_api_through_the_service_and_metrics(
    node_cluster: NodeCluster, release: Release
) -> None:
    cluster = node_cluster
    cluster.create(f"/api/v1/namespaces/{APPS}/serviceaccounts", {"metadata": {"name": "reader"}})
    cluster.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{APPS}/roles",
        {
            "metadata": {"name": "reader"},
            "rules": [
                {
                    "apiGroups": ["federation.scaivault.io"],
                    "resources": ["federationbackends"],
                    "verbs": ["get", "list"],
                },
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
            ],
        },
    )
    cluster.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{APPS}/rolebindings",
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": APPS}],
        },
    )
    token = cluster.token(APPS, "reader", audience=TOKEN_AUDIENCE)
    api = _service_url(cluster, "http")
    # kube-proxy's rules for the Service follow the API pod's endpoints a moment after
    # the rollout: a refused connection is retried, any answer but 401 fails at the end
    eventually(
        lambda: http_get(f"{api}/v1/federation/backends?namespace={APPS}")[0] == 401,
        60,
        "the API through the Service to refuse a call without a token",
    )

    def listed() -> dict[str, Any] | None:
        code, body = http_get(f"{api}/v1/federation/backends?namespace={APPS}", token)
        return json.loads(body) if code == 200 else None

    backends = eventually(listed, 60, "the backend list through the Service")
    assert BACKEND in json.dumps(backends)
    code, body = http_get(f"{api}/v1/secrets/{BACKEND}/s2?namespace={APPS}", token)
    assert code == 200, body[:200]
    assert b"canary-node-2-v1" in body
    # the same routing delay for the operator's port, after its pod was replaced
    metrics_url = _service_url(cluster, "metrics") + "/metrics"
    code, metrics = eventually(lambda: http_get(metrics_url), 60, "the metrics through the Service")
    assert code == 200
    assert b"# TYPE" in metrics and b"canary" not in metrics


def test_two_replicas_hand_over_within_one_lease_period(
    node_cluster: NodeCluster, openbao: OpenBaoPod, release: Release
) -> None:
    cluster = node_cluster
    release.helm(
        "upgrade",
        CHART,
        *("--set", "replicaCount=2", "--set", f"leaseDurationSeconds={LEASE_SECONDS}"),
    )
    release.operator_pods(2)
    target = f"{BACKEND}-s3"
    rounds: list[str] = []
    for how, version in (("pod deleted", "v2"), ("SIGKILL", "v3")):
        acting, holder = eventually(lambda: _acting(cluster), 60, "one replica acting")
        pods = cluster.pods(NAMESPACE, SELECTOR)
        pod = next(p for p in pods if p["metadata"]["name"] == acting)
        survivor = next(p for p in pods if p["metadata"]["name"] != acting and _has(p, "operator"))
        killed_at = time.time()
        if how == "pod deleted":
            cluster.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{acting}")
        else:
            os.kill(cluster.container_pid(pod, "operator"), signal.SIGKILL)
        value = f"canary-node-3-{version}"
        openbao.write("node/app/s3", {"value": value})
        versions, synced = _watch_versions(cluster, target, value, LEASE_SECONDS * 4)
        takeover = eventually(
            functools.partial(_takeover, cluster, survivor, holder, killed_at),
            30,
            "the takeover logged",
        )
        rounds.append(
            f"{how}: the other replica acts after {takeover:.1f} s, the change is in the "
            f"Secret after {synced - killed_at:.1f} s, written {len(versions)} time(s)"
        )
        # a dead replica's Lease lapses one lease period after its last renewal (at
        # most a renewal period, a third of it, before the kill); the survivor looks
        # every second, and sees a change up to a second late
        assert takeover <= LEASE_SECONDS + 3, rounds[-1]
        assert len(versions) == 1, rounds[-1]
        release.operator_pods(2)
    print("\nhandover (lease period " + f"{LEASE_SECONDS} s):\n" + "\n".join(rounds))


def _acting(cluster: NodeCluster) -> tuple[str, str] | None:
    """The pod of the replica that acts (the oldest live Lease's holder), and
    that holder's name."""
    body = cluster.call("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases")
    pods: set[str] = {p["metadata"]["name"] for p in cluster.pods(NAMESPACE, SELECTOR)}
    held = sorted(
        (str(lease["spec"].get("acquireTime", "")), str(lease["spec"].get("holderIdentity", "")))
        for lease in body["items"]
    )
    for _, holder in held:
        for pod in pods:
            if holder.startswith(f"{pod}-"):
                return pod, holder
    return None


def _takeover(
    cluster: NodeCluster, survivor: dict[str, Any], gone: str, since: float
) -> float | None:
    """Seconds from ``since`` until the survivor logged a live set without ``gone``."""
    name = survivor["metadata"]["name"]
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/log?container=operator&sinceSeconds=120"
    status, text = cluster.control_plane.request_text("GET", path)
    assert status == 200, text[:200]
    for line in text.splitlines():
        if "live operator processes:" not in line or gone in line:
            continue
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        if stamp.timestamp() > since:
            return stamp.timestamp() - since
    return None


def _watch_versions(
    cluster: NodeCluster, name: str, value: str, timeout: float
) -> tuple[list[str], float]:
    """The resourceVersions the Secret goes through until it holds ``value`` and
    for a few seconds after (a second write for the same change would show),
    and when it first held it."""
    seen: list[str] = []
    first = cluster.secret(APPS, name)
    assert first is not None
    current = first["metadata"]["resourceVersion"]
    deadline = time.monotonic() + timeout
    settled: float | None = None
    while time.monotonic() < deadline:
        secret = cluster.secret(APPS, name)
        assert secret is not None
        version = secret["metadata"]["resourceVersion"]
        if version != current and version not in seen:
            seen.append(version)
        if settled is None and cluster.secret_value(APPS, name, "value") == value:
            settled = time.time()
        if settled is not None and time.time() - settled > 4:
            return seen, settled
        time.sleep(0.1)
    raise AssertionError(f"{name} did not get the new value in {timeout:.0f}s")


def test_memory_stays_inside_the_limit_while_syncing_2000_secrets(
    node_cluster: NodeCluster, openbao: OpenBaoPod, release: Release
) -> None:
    cluster = node_cluster
    release.helm("upgrade", CHART, "--set", "replicaCount=1")
    pod = release.operator_pods(1)[0]
    prefix = f"bulk-{uuid.uuid4().hex[:6]}"
    for index in range(MEMORY_SECRETS):
        openbao.write(f"{prefix}/s{index:04d}", {"value": f"v{index}", "pad": "x" * 256})
    _create_backend(cluster, openbao, "bulk", prefix)
    status = eventually(lambda: _synced(cluster, "bulk", MEMORY_SECRETS), 600, "2,000 syncs")
    assert status["status"] == "healthy"
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "operator")
    limit = _bytes(container["resources"]["limits"]["memory"])
    peak = cluster.memory_peak(pod, "operator")
    print(
        f"\noperator container memory peak while syncing {MEMORY_SECRETS} secrets: "
        f"{peak / 2**20:.0f} MiB of a {limit / 2**20:.0f} MiB limit"
    )
    now = release.operator_pods(1)[0]
    assert now["metadata"]["uid"] == pod["metadata"]["uid"], "the operator pod was replaced"
    restarts = {s["name"]: s["restartCount"] for s in now["status"]["containerStatuses"]}
    assert restarts["operator"] == 0, "the operator container restarted"
    assert peak < limit


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def test_uninstall_leaves_the_synced_secrets(node_cluster: NodeCluster, release: Release) -> None:
    cluster = node_cluster
    selector = f"federation.scaivault.io/backend={BACKEND}"
    before = cluster.secrets_of(APPS, selector)
    assert len(before) == 5
    release.uninstall()
    eventually(lambda: not cluster.pods(NAMESPACE, SELECTOR), 120, "the release's pods gone")
    assert cluster.secrets_of(APPS, selector) == before
