"""Reading FederationLeases and FederationCertificates of a namespace, for the API's
read-only listing (the leasing runtime watches them itself)."""

from __future__ import annotations

from typing import Any

from ..models.leased import LeasedKind, LeasedResource
from .client import KubeClient


class LeasedListing:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def list(
        self, kind: LeasedKind[Any, Any], namespace: str
    ) -> list[LeasedResource[Any, Any]]:
        """The objects of ``kind`` in ``namespace``, by name."""
        doc = await self.client.get(kind.path(namespace))
        found = [kind.parse(obj) for obj in doc.get("items") or []]
        return sorted(found, key=lambda resource: resource.name)
