"""The leased-secret samples of ``dev``: one FederationLease (credentials of the
database engine's short-lived role, renewed and replaced while ``dev`` runs) and
one FederationCertificate (from the PKI engine), both through the sample Vault
FederationBackend."""

from __future__ import annotations

from typing import Any

from .cluster import apply
from .controlplane import ControlPlane
from .openbao_engines import LeaseEngines
from .samples import SAMPLE_NAMESPACE

API = f"/apis/federation.scaivault.io/v1alpha1/namespaces/{SAMPLE_NAMESPACE}"
LEASE_SAMPLE = "dev-db"
CERTIFICATE_SAMPLE = "dev-web-tls"
#: the database role the sample leases: the shortest, so renewals show within a minute
LEASE_ROLE = "app"
#: each sample's list URL, by kind
COLLECTIONS = {
    "FederationLease": f"{API}/federationleases",
    "FederationCertificate": f"{API}/federationcertificates",
}


def seed_leases(cp: ControlPlane, engines: LeaseEngines, backend: str) -> dict[str, Any]:
    """Apply both samples against the Vault FederationBackend ``backend``; what
    ``dev.json`` says of them."""
    domain = f"{SAMPLE_NAMESPACE}.svc.cluster.local"
    specs: dict[str, tuple[str, dict[str, Any]]] = {
        "FederationLease": (
            LEASE_SAMPLE,
            {"backendRef": backend, "path": engines.creds_path(LEASE_ROLE)},
        ),
        "FederationCertificate": (
            CERTIFICATE_SAMPLE,
            {
                "backendRef": backend,
                "path": engines.issue_path(),
                "commonName": f"web.{domain}",
                "altNames": ["web.example.test"],
                "ipSans": ["127.0.0.1"],
                "ttl": "10m",
                "includeCA": True,
            },
        ),
    }
    for kind, (name, spec) in specs.items():
        body = {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        }
        apply(cp, COLLECTIONS[kind], body)
    return {kind: {"name": name, "secret": name} for kind, (name, _) in specs.items()}
