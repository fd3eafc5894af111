"""coordination.k8s.io/v1 Leases: one per running operator process, renewed while
it lives, labelled with the group of replicas it belongs to."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from .client import JSON, KubeClient, NotFoundError

GROUP_LABEL = "federation.scaivault.io/replicas"


def _leases(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    name: str
    holder: str
    resource_version: str
    acquire_time: str
    renew_time: str
    duration_seconds: int

    @classmethod
    def from_object(cls, obj: JSON) -> LeaseRecord:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        return cls(
            name=str(meta.get("name", "")),
            holder=str(spec.get("holderIdentity", "")),
            resource_version=str(meta.get("resourceVersion", "")),
            acquire_time=str(spec.get("acquireTime", "")),
            renew_time=str(spec.get("renewTime", "")),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        )


class LeaseStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def list(self, namespace: str, group: str) -> list[LeaseRecord]:
        doc = await self.client.get(
            _leases(namespace), params={"labelSelector": f"{GROUP_LABEL}={group}"}
        )
        return [LeaseRecord.from_object(item) for item in doc.get("items") or []]

    async def create(
        self, namespace: str, name: str, group: str, holder: str, duration_seconds: int
    ) -> LeaseRecord:
        now = _now()
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "labels": {GROUP_LABEL: group}},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration_seconds,
                "acquireTime": now,
                "renewTime": now,
            },
        }
        return LeaseRecord.from_object(await self.client.post(_leases(namespace), body))

    async def renew(self, namespace: str, lease: LeaseRecord) -> LeaseRecord:
        """Move ``renewTime`` on; a 409 means someone else changed it (it is not ours)."""
        body: JSON = {
            "metadata": {"resourceVersion": lease.resource_version},
            "spec": {"renewTime": _now()},
        }
        return LeaseRecord.from_object(
            await self.client.merge_patch(_leases(namespace, lease.name), body)
        )

    async def delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.delete(_leases(namespace, name))
