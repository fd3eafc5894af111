from __future__ import annotations

import subprocess
import uuid

import pytest

from scaivault_devenv.controlplane import ControlPlane

pytestmark = pytest.mark.e2e


def test_api_answers_the_admin(control_plane: ControlPlane) -> None:
    status, body = control_plane.request("GET", "/version")
    assert status == 200
    assert "gitVersion" in body
    assert control_plane.server.startswith("https://127.0.0.1:")


def test_rbac_rejects_strangers(control_plane: ControlPlane) -> None:
    status, _ = control_plane.request("GET", "/api/v1/namespaces", token="not-a-real-token")
    assert status == 401
    status, body = control_plane.request("GET", "/api/v1/namespaces", anonymous=True)
    assert status in (401, 403), body


def test_default_namespace_and_bootstrap_roles_exist(control_plane: ControlPlane) -> None:
    assert control_plane.request("GET", "/api/v1/namespaces/default")[0] == 200
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin"
    assert control_plane.request("GET", path)[0] == 200


def test_namespace_can_be_created(control_plane: ControlPlane) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    status, created = control_plane.request("POST", "/api/v1/namespaces", body)
    assert status == 201, created
    assert created["metadata"]["name"] == name
    assert control_plane.request("GET", f"/api/v1/namespaces/{name}")[0] == 200


def test_service_account_tokens_are_issued_and_reviewed(control_plane: ControlPlane) -> None:
    ns = "default"
    sa = f"sa-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}
    assert control_plane.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", body)[0] == 201
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    status, issued = control_plane.request(
        "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", request
    )
    assert status == 201, issued
    token = issued["status"]["token"]
    # The fresh identity is authenticated but has no permissions: RBAC denies it.
    status, _ = control_plane.request("GET", "/api/v1/namespaces", token=token)
    assert status == 403
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    status, reviewed = control_plane.request(
        "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review
    )
    assert status == 201, reviewed
    assert reviewed["status"]["authenticated"] is True
    assert reviewed["status"]["user"]["username"] == f"system:serviceaccount:{ns}:{sa}"


def test_kubeconfig_works_with_kubectl(control_plane: ControlPlane) -> None:
    assert control_plane.binaries is not None
    kubectl = control_plane.binaries.kubectl
    assert kubectl is not None, "the control plane binaries include no kubectl"
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(control_plane.kubeconfig), "get", "ns"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout
