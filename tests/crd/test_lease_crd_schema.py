"""The FederationLease and FederationCertificate CRDs, installed into a real
kube-apiserver: defaults, refusals naming their field, status that takes ids and
times, and the columns kubectl prints."""

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

CRDS = Path(__file__).resolve().parents[2] / "crds"
LEASES = f"/apis/{GROUP_VERSION}/namespaces/default/federationleases"
CERTIFICATES = f"/apis/{GROUP_VERSION}/namespaces/default/federationcertificates"
LEASE: Json = {"backendRef": "vault", "path": "database/creds/app"}
CERT: Json = {"backendRef": "vault", "path": "pki/issue/web", "commonName": "web.example"}


@pytest.fixture(scope="module")
def api(schema_control_plane: ControlPlane) -> Api:
    api = Api(schema_control_plane)
    for plural in ("federationleases", "federationcertificates"):
        crd = yaml.safe_load((CRDS / f"{plural}.federation.scaivault.io.yaml").read_text())
        status, body = api.call("POST", CRDS_URL, crd)
        assert status in (201, 409), body
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.call("GET", LEASES)[0] == 200 and api.call("GET", CERTIFICATES)[0] == 200:
            return api
        time.sleep(0.2)
    raise AssertionError("the leasing CRDs were not established")


def create(api: Api, collection: str, kind: str, spec: Json) -> tuple[int, Json]:
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": kind,
        "metadata": {"name": f"x-{uuid.uuid4().hex[:10]}"},
        "spec": spec,
    }
    return api.call("POST", collection, body)


def test_a_lease_is_accepted_with_defaults(api: Api) -> None:
    status, body = create(api, LEASES, "FederationLease", {**LEASE, "parameters": {"ttl": "1m"}})
    assert status == 201, body
    assert body["spec"]["deletionPolicy"] == "Revoke"
    assert body["spec"]["parameters"] == {"ttl": "1m"}


def test_a_certificate_is_accepted_with_defaults(api: Api) -> None:
    spec = {**CERT, "altNames": ["*.web.example"], "ipSans": ["127.0.0.1"], "ttl": "1h"}
    status, body = create(api, CERTIFICATES, "FederationCertificate", spec)
    assert status == 201, body
    assert body["spec"]["deletionPolicy"] == "Delete"
    assert body["spec"]["includeCA"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path": "database/../sys/seal"}, "spec.path"),
        ({"path": "sys/leases/lookup"}, "spec.path"),
        ({"path": "/database/creds/app"}, "spec.path"),
        ({"backendRef": "other/vault"}, "spec.backendRef"),
        ({"renewFraction": 1.5}, "spec.renewFraction"),
        ({"rotateBefore": "soon"}, "spec.rotateBefore"),
        ({"deletionPolicy": "Delete"}, "spec.deletionPolicy"),
    ],
)
def test_a_bad_lease_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str
) -> None:
    status, body = create(api, LEASES, "FederationLease", {**LEASE, **change})
    assert status == 422, body
    assert field in body["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path": "pki/sign/web"}, "spec.path"),
        ({"altNames": ["not a name"]}, "spec.altNames"),
        ({"renewBefore": "a while"}, "spec.renewBefore"),
        ({"deletionPolicy": "Revoked"}, "spec.deletionPolicy"),
    ],
)
def test_a_bad_certificate_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str
) -> None:
    status, body = create(api, CERTIFICATES, "FederationCertificate", {**CERT, **change})
    assert status == 422, body
    assert field in body["message"]


def test_status_takes_lease_ids_and_times_and_kubectl_prints_them(api: Api) -> None:
    status, body = create(api, LEASES, "FederationLease", LEASE)
    assert status == 201, body
    name = body["metadata"]["name"]
    figures = {
        "leaseId": "database/creds/app/abc",
        "expiresAt": "2030-01-01T00:00:00Z",
        "nextRenewalAt": "2029-12-31T23:59:00Z",
        "renewals": 3,
        "rotations": 1,
        "pendingRevocations": [
            {"leaseId": "database/creds/app/old", "revokeAt": "2030-01-01T00:00:00Z"}
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Issued",
                "message": "",
                "lastTransitionTime": "2029-12-31T23:00:00Z",
            }
        ],
    }
    status, body = api.call(
        "PATCH",
        f"{LEASES}/{name}/status",
        {"status": figures},
        content_type="application/merge-patch+json",
    )
    assert status == 200, body
    assert body["status"]["pendingRevocations"][0]["leaseId"] == "database/creds/app/old"
    status, table = api.call(
        "GET",
        f"{LEASES}/{name}",
        accept="application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    assert status == 200, table
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:2] == ["Name", "Ready"]
    assert {"Backend", "Path", "Expires", "Next Renewal", "Rotations", "Age"} <= set(columns)
    row = dict(zip(columns, table["rows"][0]["cells"], strict=True))
    assert row["Ready"] == "True"
    assert row["Backend"] == "vault"
    # times to come as they are, not as an age (which kubectl prints as "<invalid>")
    assert row["Expires"] == "2030-01-01T00:00:00Z"
    assert row["Next Renewal"] == "2029-12-31T23:59:00Z"
