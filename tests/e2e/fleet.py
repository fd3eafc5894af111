"""Namespaces made for one test (labelled for a cluster backend's selector or not),
the credentials Secret in the operator's namespace, and its ClusterFederationBackend."""

from __future__ import annotations

import base64
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import SYNC_REQUESTED_ANNOTATION, credentials_labels

from .helpers import API, Cluster, eventually

CLUSTER_BACKENDS = f"{API}/clusterfederationbackends"
#: the label of the namespaces a test's cluster backend selects
SELECTED = "scaivault-e2e/team-secrets"


class Fleet:
    """Namespaces made for one test (labelled or not), and its cluster backend."""

    def __init__(self, kube: KubeClient, home: str) -> None:
        self.kube = kube
        #: the operator's namespace, where cluster backends' credentials are
        self.home = home
        self.id = uuid.uuid4().hex[:8]
        self.label = f"e2e-cluster-{self.id}"
        self.names: list[str] = []

    async def namespace(self, selected: bool) -> Cluster:
        name = f"e2e-cfedb-{self.id}-{len(self.names)}"
        labels = self.match_labels if selected else {}
        await self.kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
        )
        self.names.append(name)
        return Cluster(self.kube, name)

    async def select(self, cluster: Cluster, selected: bool) -> None:
        value = self.label if selected else None
        patch = {"metadata": {"labels": {SELECTED: value}}}
        await self.kube.merge_patch(f"/api/v1/namespaces/{cluster.namespace}", patch)

    @property
    def match_labels(self) -> dict[str, str]:
        """The labels the test's selected namespaces have."""
        return {SELECTED: self.label}

    async def credentials(self, token: str) -> str:
        """A Vault token's credentials Secret in the operator's namespace; its path."""
        return await self.put_credentials({"token": token})

    async def put_credentials(self, values: dict[str, str]) -> str:
        """The test's credentials Secret in the operator's namespace; its path."""
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"creds-cluster-{self.id}", "labels": credentials_labels()},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
        }
        await self.kube.post(f"/api/v1/namespaces/{self.home}/secrets", secret)
        return f"creds/cluster-{self.id}"

    async def create(self, name: str, openbao: OpenBaoServer, prefix: str, **extra: Any) -> None:
        """A Vault cluster backend selecting the test's namespaces."""
        await self.post(
            name,
            {
                "type": "hashicorp-vault",
                "config": {
                    "endpoint": openbao.address,
                    "authMethod": "token",
                    "authConfigPath": await self.credentials(openbao.root_token),
                },
                "pathMapping": {
                    "shared/**": f"secret/data/{prefix}/shared/**",
                    "team/**": f"secret/data/{prefix}/teams/{{namespace}}/**",
                },
                "mode": "sync",
                "syncInterval": "10m",
                **extra,
            },
        )

    async def post(self, name: str, spec: dict[str, Any]) -> None:
        """A ClusterFederationBackend of ``spec``, selecting the test's namespaces."""
        body = {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "ClusterFederationBackend",
            "metadata": {"name": name},
            "spec": {"namespaceSelector": {"matchLabels": self.match_labels}, **spec},
        }
        await self.kube.post(CLUSTER_BACKENDS, body)

    async def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = (await self.kube.get(f"{CLUSTER_BACKENDS}/{name}")).get(
            "status"
        ) or {}
        return status

    async def request_sync(self, name: str) -> str:
        """Set the manual sync annotation; returns the status' lastSync before it."""
        before = (await self.status(name)).get("lastSync", "")
        stamp = datetime.now(UTC).isoformat()
        patch = {"metadata": {"annotations": {SYNC_REQUESTED_ANNOTATION: stamp}}}
        await self.kube.merge_patch(f"{CLUSTER_BACKENDS}/{name}", patch)
        return str(before)

    async def wait_namespaces(self, name: str, *clusters: Cluster) -> dict[str, Any]:
        wanted = sorted(c.namespace for c in clusters)

        async def probe() -> dict[str, Any] | None:
            status = await self.status(name)
            listed = [n["name"] for n in status.get("namespaces", [])]
            return status if status.get("status") == "healthy" and listed == wanted else None

        return await eventually(probe, 30, f"{name} to sync into {wanted}")

    async def delete(self, name: str) -> None:
        await self.kube.delete(f"{CLUSTER_BACKENDS}/{name}")

        async def gone() -> bool:
            try:
                await self.kube.get(f"{CLUSTER_BACKENDS}/{name}")
            except NotFoundError:
                return True
            return False

        await eventually(gone, 30, f"{name} to be deleted")

    async def cleanup(self) -> None:
        for name in self.names:
            with contextlib.suppress(NotFoundError):
                await self.kube.delete(f"/api/v1/namespaces/{name}")
        with contextlib.suppress(NotFoundError):
            await self.kube.delete(
                f"/api/v1/namespaces/{self.home}/secrets/creds-cluster-{self.id}"
            )
