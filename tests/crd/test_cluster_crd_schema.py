"""The ClusterFederationBackend CRD, installed into a real kube-apiserver: the spec
rules of the FederationBackend CRD hold, plus namespaceSelector's, and the
status takes per-namespace figures."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaivault_devenv.controlplane import ControlPlane

from .test_crd_schema import CRDS_URL, GROUP_VERSION, Api, Json

pytestmark = pytest.mark.e2e

CRD_NAME = "clusterfederationbackends.federation.scaivault.io"
CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / f"{CRD_NAME}.yaml"
COLLECTION = f"/apis/{GROUP_VERSION}/clusterfederationbackends"

SPEC: Json = {
    "type": "hashicorp-vault",
    "config": {
        "endpoint": "https://vault.example:8200",
        "authMethod": "token",
        "authConfigPath": "infra/vault/token",
    },
    "namespaceSelector": {"matchLabels": {"team-secrets": "yes"}},
    "pathMapping": {"apps/**": "teams/{namespace}/**"},
    "mode": "sync",
    "syncInterval": "15m",
}


@pytest.fixture(scope="module")
def api(schema_control_plane: ControlPlane) -> Api:
    api = Api(schema_control_plane)
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    status, body = api.call("POST", CRDS_URL, crd)
    assert status in (201, 409), body
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.call("GET", COLLECTION)[0] == 200:
            return api
        time.sleep(0.2)
    raise AssertionError("the ClusterFederationBackend CRD was not established")


def create(api: Api, spec: Json, name: str | None = None) -> tuple[int, Json]:
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": "ClusterFederationBackend",
        "metadata": {"name": name or f"cfb-{uuid.uuid4().hex[:10]}"},
        "spec": spec,
    }
    return api.call("POST", COLLECTION, body)


def with_changes(**changes: Any) -> Json:
    return {**SPEC, **changes}


def test_a_valid_cluster_backend_is_accepted_with_defaults(api: Api) -> None:
    status, body = create(api, SPEC)
    assert status == 201, body
    assert body["spec"]["deletionPolicy"] == "Retain"
    assert body["spec"]["pathMapping"] == {"apps/**": "teams/{namespace}/**"}
    assert "namespace" not in body["metadata"]


def test_status_takes_per_namespace_figures(api: Api) -> None:
    status, body = create(api, SPEC)
    assert status == 201, body
    name = body["metadata"]["name"]
    figures = {
        "status": "healthy",
        "secretsSynced": 3,
        "conflictCount": 1,
        "namespaces": [{"name": "a", "secretsSynced": 3, "conflictCount": 1}],
        "conflicts": [
            {
                "namespace": "a",
                "path": "apps/db",
                "remotePath": "teams/a/db",
                "reason": "UnmanagedSecretDiffers",
                "detectedAt": "2026-01-01T00:00:00Z",
            }
        ],
    }
    code, patched = api.call(
        "PATCH",
        f"{COLLECTION}/{name}/status",
        {"status": figures},
        content_type="application/merge-patch+json",
    )
    assert code == 200, patched
    assert patched["status"]["namespaces"] == figures["namespaces"]
    assert patched["status"]["conflicts"][0]["namespace"] == "a"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({k: v for k, v in SPEC.items() if k != "namespaceSelector"}, "namespaceSelector"),
        (
            with_changes(namespaceSelector={"matchExpressions": [{"key": "k", "operator": "In"}]}),
            "In and NotIn need values",
        ),
        (
            with_changes(
                namespaceSelector={
                    "matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]
                }
            ),
            "take no values",
        ),
        (
            with_changes(
                namespaceSelector={"matchExpressions": [{"key": "k", "operator": "Near"}]}
            ),
            "Unsupported value",
        ),
        # the FederationBackend's rules hold unchanged
        (with_changes(pathMapping={"apps/**": "teams/{namespace}/*"}), "same wildcards"),
        (with_changes(syncInterval="5s"), "at least 10s"),
        (with_changes(config={"endpoint": "https://v:8200"}), "authConfigPath is required"),
    ],
)
def test_invalid_cluster_backends_are_rejected(api: Api, spec: Json, message: str) -> None:
    status, body = create(api, spec)
    assert status == 422, body
    assert message in body.get("message", ""), body.get("message")


def test_a_name_too_long_for_the_owner_label_is_rejected(api: Api) -> None:
    status, body = create(api, SPEC, name="n" * 56)
    assert status == 422, body
    assert "at most 55 characters" in body["message"]
    assert create(api, SPEC, name="n" * 55)[0] == 201


def test_printer_columns_show_totals_and_namespaces(api: Api) -> None:
    status, body = create(api, SPEC)
    assert status == 201, body
    name = body["metadata"]["name"]
    code, patched = api.call(
        "PATCH",
        f"{COLLECTION}/{name}/status",
        {
            "status": {
                "status": "healthy",
                "secretsSynced": 4,
                "conflictCount": 0,
                "namespaces": [{"name": "a"}, {"name": "b"}],
                "namespaceCount": 2,
            }
        },
        content_type="application/merge-patch+json",
    )
    assert code == 200, patched
    code, table = api.call(
        "GET", f"{COLLECTION}/{name}", accept="application/json;as=Table;v=v1;g=meta.k8s.io"
    )
    assert code == 200, table
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == [
        "Name",
        "Type",
        "Status",
        "Synced",
        "Conflicts",
        "Namespaces",
        "Last Sync",
        "Age",
    ]
    (row,) = table["rows"]
    assert row["cells"][1:6] == ["hashicorp-vault", "healthy", 4, 0, 2]
