"""The leasing kinds' specs: defaults, and every refusal naming its field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scaivault_federation.models.lease import (
    CertificateDeletionPolicy,
    LeaseDeletionPolicy,
)
from scaivault_federation.models.leased import FEDERATION_CERTIFICATE, FEDERATION_LEASE

LEASE: dict[str, Any] = {"backendRef": "vault", "path": "database/creds/app"}
CERT: dict[str, Any] = {"backendRef": "vault", "path": "pki/issue/web", "commonName": "a.example"}


def _lease(**spec: Any) -> Any:
    return FEDERATION_LEASE.parse(
        {"metadata": {"name": "db", "namespace": "team"}, "spec": {**LEASE, **spec}}
    )


def _cert(**spec: Any) -> Any:
    return FEDERATION_CERTIFICATE.parse(
        {"metadata": {"name": "web", "namespace": "team"}, "spec": {**CERT, **spec}}
    )


def test_lease_defaults() -> None:
    spec = _lease().spec
    assert spec.renew_fraction == pytest.approx(2 / 3)
    assert spec.deletion_policy is LeaseDeletionPolicy.REVOKE
    assert spec.revoke_grace == timedelta(seconds=30)
    assert spec.rotate_margin is None
    assert spec.request == {}


def test_certificate_defaults() -> None:
    spec = _cert(ttl="1h", ipSans=["127.0.0.1", "::1"]).spec
    assert spec.deletion_policy is CertificateDeletionPolicy.DELETE
    assert not spec.revokes
    assert spec.ttl_seconds == 3600
    assert not spec.include_ca


def test_revoke_policy_revokes_after_its_grace_at_the_engine_of_the_path() -> None:
    spec = _cert(path="pki/int/issue/web", deletionPolicy="Revoke", revokeGracePeriod="5s").spec
    assert spec.revokes
    assert spec.revoke_grace == timedelta(seconds=5)
    assert spec.mount == "pki/int"
    assert _cert(deletionPolicy="Revoke").spec.revoke_grace == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path": "/database/creds/app"}, "spec.path"),
        ({"path": "database/../sys/seal"}, "spec.path"),
        ({"path": "sys/leases/lookup"}, "spec.path"),
        ({"path": "auth/token/create"}, "spec.path"),
        ({"backendRef": "Other_NS/vault"}, "spec.backendRef"),
        ({"renewFraction": 0.99}, "spec.renewFraction"),
        ({"rotateBefore": "soon"}, "spec.rotateBefore"),
        ({"revokeGracePeriod": "-1s"}, "spec.revokeGracePeriod"),
        ({"deletionPolicy": "Delete"}, "spec.deletionPolicy"),
        ({"target": {"type": "kubernetes.io/service-account-token"}}, "spec.target.type"),
    ],
)
def test_a_bad_lease_spec_names_the_field(change: dict[str, Any], field: str) -> None:
    resource = _lease(**change)
    assert resource.spec is None
    assert field in resource.spec_error


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"path": "pki/sign/web"}, "spec.path"),
        ({"altNames": ["ok.example", "not a name"]}, "spec.altNames"),
        ({"ipSans": ["10.0.0.300"]}, "spec.ipSans"),
        ({"ttl": "1 day"}, "spec.ttl"),
        ({"target": {"labels": {"federation.scaivault.io/x": "y"}}}, "spec.target"),
        ({"commonName": "a\nb"}, "spec.commonName"),
        ({"revokeGracePeriod": "later"}, "spec.revokeGracePeriod"),
        ({"ttl": "30s", "renewBefore": "1m"}, "spec.renewBefore"),
        ({"deletionPolicy": "Revoked"}, "spec.deletionPolicy"),
    ],
)
def test_a_bad_certificate_spec_names_the_field(change: dict[str, Any], field: str) -> None:
    resource = _cert(**change)
    assert resource.spec is None
    assert field in resource.spec_error


def test_a_bad_spec_never_echoes_its_parameters() -> None:
    resource = _lease(parameters={"password": "canary-S3cr3t"}, renewFraction=5)
    assert resource.spec is None
    assert "canary-S3cr3t" not in resource.spec_error


def test_include_ca_is_spelled_as_in_the_crd() -> None:
    assert _cert(includeCA=True).spec.include_ca
