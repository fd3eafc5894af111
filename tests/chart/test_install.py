"""Installing for real into the test apiserver: ``helm install`` and ``kubectl apply -k deploy/``.

There is no kubelet, so pods never run; what is checked is that the apiserver
accepts every object (schemas, admission, RBAC escalation checks) and that
they are there afterwards. The RBAC of these objects is exercised in
``test_rbac_e2e.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.helm import CHART, DEPLOY, NAMESPACE, RELEASE, render_text, run

from .identity import can
from .tools import Release

pytestmark = pytest.mark.e2e

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def exists(cp: ControlPlane, path: str) -> bool:
    status, body = cp.request("GET", path)
    assert status in (200, 404), f"GET {path}: {status} {body.get('message')}"
    return status == 200


@pytest.fixture(scope="module")
def installed(helm: Path, control_plane: ControlPlane) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    release = Release(helm, control_plane, f"inst{suffix}", f"sf-inst{suffix}")
    began = time.monotonic()
    release.install()
    print(f"helm install: {time.monotonic() - began:.1f}s")
    yield release
    release.uninstall()


def test_helm_install_creates_every_object(installed: Release, control_plane: ControlPlane) -> None:
    ns, name = installed.namespace, installed.fullname
    # the operator and the API: two Deployments, each with its own ServiceAccount
    for deployment_name, container, account, role in (
        (name, "operator", name, f"{name}-operator"),
        (f"{name}-api", "api", f"{name}-api", f"{name}-api"),
    ):
        deployment = installed.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{deployment_name}")
        pod = deployment["spec"]["template"]["spec"]
        assert [c["name"] for c in pod["containers"]] == [container]
        assert pod["serviceAccountName"] == account
        assert exists(control_plane, f"/api/v1/namespaces/{ns}/serviceaccounts/{account}")
        assert exists(control_plane, f"{RBAC}/clusterroles/{role}")
        binding = installed.get(f"{RBAC}/clusterrolebindings/{role}")
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    service = installed.get(f"/api/v1/namespaces/{ns}/services/{name}")
    assert {p["port"] for p in service["spec"]["ports"]} == {8000, 9090}
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert exists(control_plane, f"{crds}/federationbackends.federation.scaivault.io")
    for crd in ("kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        assert not exists(control_plane, f"{crds}/{crd}")
    # One replica runs standalone: no Leases, so no Role for them.
    assert not exists(control_plane, f"{RBAC}/namespaces/{ns}/roles/{name}-leases")
    status = json.loads(
        run(
            [
                installed.helm, "status", installed.name, "-n", ns, "-o", "json",
                "--kubeconfig", control_plane.kubeconfig,
            ]
        )
    )  # fmt: skip
    assert status["info"]["status"] == "deployed"
    assert "kubectl get fedb -A" in status["info"]["notes"]


def test_helm_upgrade_to_replicas_adds_lease_rbac_and_a_budget(
    installed: Release, control_plane: ControlPlane
) -> None:
    run(
        [
            installed.helm, "upgrade", installed.name, CHART, "-n", installed.namespace,
            "--reuse-values", "--set", "replicaCount=2", "--kubeconfig", control_plane.kubeconfig,
        ]
    )  # fmt: skip
    ns, name = installed.namespace, installed.fullname
    role = installed.get(f"{RBAC}/namespaces/{ns}/roles/{name}-leases")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["list", "create", "patch", "delete"],
        }
    ]
    binding = installed.get(f"{RBAC}/namespaces/{ns}/rolebindings/{name}-leases")
    assert binding["roleRef"]["name"] == f"{name}-leases"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": ns}]
    user = f"system:serviceaccount:{ns}:{name}"
    assert can(control_plane, user, "create", "leases", group="coordination.k8s.io", namespace=ns)
    assert not can(
        control_plane, user, "create", "leases", group="coordination.k8s.io", namespace="default"
    )
    assert exists(control_plane, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}")
    deployment = installed.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    assert f"--peering={name}" in operator["args"] and "--standalone" not in operator["args"]
    status, _ = control_plane.request("GET", "/apis/kopf.dev/v1")
    assert status == 404  # no kopf peering resources

    # Back to one replica: standalone again, and the Lease RBAC and the budget go.
    run(
        [
            installed.helm, "upgrade", installed.name, CHART, "-n", installed.namespace,
            "--reuse-values", "--set", "replicaCount=1", "--kubeconfig", control_plane.kubeconfig,
        ]
    )  # fmt: skip
    assert not exists(control_plane, f"{RBAC}/namespaces/{ns}/roles/{name}-leases")
    assert not exists(control_plane, f"{RBAC}/namespaces/{ns}/rolebindings/{name}-leases")
    assert not exists(control_plane, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}")


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 3, "networkPolicy": {"enabled": True}},
        {"rbac": {"namespaced": True}, "watchNamespaces": ["sf-dry-a", "sf-dry-b"]},
        {
            "replicaCount": 2,
            "watchNamespaces": ["sf-dry-a"],
            "api": {"staticTokens": {"enabled": True, "tokens": "tokens: []\n"}},
        },
        {
            "replicaCount": 2,
            "sharding": {"enabled": True},
            "leaseDurationSeconds": 30,
            "rbac": {"namespaced": True},
            "watchNamespaces": ["sf-dry-a"],
        },
    ],
    ids=["replicas-netpol", "namespaced-rbac", "namespaced-leases-static-tokens", "sharding"],
)
def test_variants_pass_server_side_dry_run(
    helm: Path,
    kubectl: Path,
    control_plane: ControlPlane,
    values: dict[str, Any],
    tmp_path: Path,
) -> None:
    for namespace in ("sf-dry-a", "sf-dry-b", "sf-dry"):
        ensure_namespace(control_plane, namespace)
    manifest = tmp_path / "render.yaml"
    manifest.write_text(render_text(helm, values=values, release="dry", namespace="sf-dry"))
    out = run(
        [
            kubectl, "--kubeconfig", control_plane.kubeconfig, "apply", "--server-side",
            "--dry-run=server", "--field-manager=chart-test", "-f", manifest,
        ]
    )  # fmt: skip
    kinds = {line.split("/", 1)[0] for line in out.splitlines() if line}
    assert "deployment.apps" in kinds, out


def test_kubectl_apply_kustomize(kubectl: Path, control_plane: ControlPlane) -> None:
    """deploy/ applies as-is (server-side), twice, and creates what the chart would."""
    argv: list[str | Path] = [
        kubectl, "--kubeconfig", control_plane.kubeconfig, "apply", "--server-side",
        "--field-manager=scaivault-deploy", "-k", DEPLOY,
    ]  # fmt: skip
    began = time.monotonic()
    first = run(argv)
    print(f"kubectl apply -k deploy/: {time.monotonic() - began:.1f}s")
    assert f"namespace/{NAMESPACE} serverside-applied" in first
    assert "deployment.apps/scaivault-federation serverside-applied" in first
    run(argv)  # idempotent
    try:
        deployment = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}"
        assert exists(control_plane, deployment)
        assert exists(control_plane, f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{RELEASE}")
        assert exists(control_plane, f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}")
        for suffix in ("operator", "api"):
            assert exists(control_plane, f"{RBAC}/clusterroles/{RELEASE}-{suffix}")
            assert exists(control_plane, f"{RBAC}/clusterrolebindings/{RELEASE}-{suffix}")
    finally:
        # Keep the Namespace and the CRDs (other tests use them); drop the rest.
        files = [
            DEPLOY / name
            for name in yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
            if not name.startswith("crds/") and name != "namespace.yaml"
        ]
        delete: list[str | Path] = [
            kubectl, "--kubeconfig", control_plane.kubeconfig, "delete", "--wait=false",
        ]  # fmt: skip
        run([*delete, *(a for f in files for a in ("-f", f))])


@pytest.mark.parametrize(
    "values",
    [{}, {"replicaCount": 3, "api": {"staticTokens": {"enabled": True, "existingSecret": "t"}}}],
    ids=["default", "replicas-static-tokens"],
)
def test_pod_is_admitted_under_the_restricted_pod_security_standard(
    helm: Path, control_plane: ControlPlane, values: dict[str, Any]
) -> None:
    """The pod template, dry-run created in a namespace enforcing "restricted"."""
    namespace = "sf-restricted"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }
    status, _ = control_plane.request("POST", "/api/v1/namespaces", body)
    assert status in (201, 409)
    docs = [d for d in yaml.safe_load_all(render_text(helm, values=values)) if d]
    for deployment in [d for d in docs if d["kind"] == "Deployment"]:
        admitted_only_when_restricted(control_plane, namespace, deployment["spec"]["template"])


def admitted_only_when_restricted(
    control_plane: ControlPlane, namespace: str, template: dict[str, Any]
) -> None:
    """A pod of ``template`` passes the namespace's restricted policy, and the same pod
    allowing privilege escalation does not."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-check", **template["metadata"]},
    }
    pod["spec"] = template["spec"]
    status, answer = control_plane.request(
        "POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod
    )
    assert status == 201, answer.get("message")

    # The check is live: the same pod allowing privilege escalation is refused.
    containers = pod["spec"]["containers"]
    containers[0] = {
        **containers[0],
        "securityContext": {**containers[0]["securityContext"], "allowPrivilegeEscalation": True},
    }
    status, answer = control_plane.request(
        "POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod
    )
    assert status == 403 and "restricted" in answer.get("message", ""), answer
