"""Namespace labels, for settings that select namespaces by label (read on demand,
kept for a short while)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from .client import KubeApiError, KubeClient

TTL_SECONDS = 30.0


class NamespaceReader:
    def __init__(self, client: KubeClient, ttl: float = TTL_SECONDS) -> None:
        self.client = client
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Mapping[str, str] | None]] = {}

    async def labels(self, namespace: str) -> Mapping[str, str] | None:
        hit = self._seen.get(namespace)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            obj = await self.client.get(f"/api/v1/namespaces/{namespace}")
            labels: Mapping[str, str] | None = dict((obj.get("metadata") or {}).get("labels") or {})
        except KubeApiError:
            labels = None
        self._seen[namespace] = (now, labels)
        return labels
