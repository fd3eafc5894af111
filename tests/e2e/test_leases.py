"""FederationLease and FederationCertificate with the operator running: a
``backendRef`` that names no Vault FederationBackend of the namespace is refused
with its reason, before anything is issued; the finalizer is added and a deletion
completes."""

from __future__ import annotations

from typing import Any

import pytest

from scaivault_federation.k8s.client import NotFoundError

from .helpers import Cluster, eventually

pytestmark = pytest.mark.e2e

API = "/apis/federation.scaivault.io/v1alpha1"


def url(cluster: Cluster, plural: str, name: str | None = None) -> str:
    base = f"{API}/namespaces/{cluster.namespace}/{plural}"
    return f"{base}/{name}" if name else base


async def create(cluster: Cluster, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    await cluster.kube.post(url(cluster, kind.lower() + "s"), body)


async def delete_and_wait(cluster: Cluster, plural: str, name: str) -> None:
    """Delete the resource and wait until its finalizer let it go."""
    await cluster.kube.delete(url(cluster, plural, name))

    async def gone() -> bool | None:
        try:
            await cluster.kube.get(url(cluster, plural, name))
        except NotFoundError:
            return True
        return None

    await eventually(gone, 30, f"{name} to be deleted")


async def ready_condition(cluster: Cluster, plural: str, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await cluster.kube.get(url(cluster, plural, name))
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    return await eventually(probe, 30, f"{name} to report Ready")


async def test_a_missing_or_foreign_backend_is_refused_and_deletion_completes(
    cluster: Cluster,
) -> None:
    await cluster.create_backend(
        "aws",
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1", "endpoint": "http://127.0.0.1:9"},
            "pathMapping": {"apps/**": "apps/**"},
            "mode": "proxy",
        },
    )
    await create(
        cluster, "FederationLease", "db", {"backendRef": "nowhere", "path": "database/creds/app"}
    )
    await create(
        cluster,
        "FederationCertificate",
        "web",
        {"backendRef": "aws", "path": "pki/issue/web", "commonName": "web.example"},
    )
    missing = await ready_condition(cluster, "federationleases", "db")
    assert missing["status"] == "False"
    assert missing["reason"] == "BackendNotUsable"
    assert "no FederationBackend 'nowhere'" in missing["message"]
    foreign = await ready_condition(cluster, "federationcertificates", "web")
    assert foreign["reason"] == "BackendNotUsable"
    assert "aws-secrets-manager" in foreign["message"]
    lease = await cluster.kube.get(url(cluster, "federationleases", "db"))
    assert "federation.scaivault.io/finalizer" in lease["metadata"]["finalizers"]
    events = [e for e in await cluster.events() if e["involvedObject"]["name"] == "db"]
    assert events and events[0]["involvedObject"]["kind"] == "FederationLease"
    assert not await cluster.secrets("app.kubernetes.io/managed-by=scaivault-federation")

    for plural, name in (("federationleases", "db"), ("federationcertificates", "web")):
        await delete_and_wait(cluster, plural, name)
