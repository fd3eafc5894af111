"""Every namespace's labels, held in memory from a list and watch of namespaces
(metadata only), for ClusterFederationBackends' ``namespaceSelector``. Listeners
hear of every namespace added, deleted or relabelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from .client import JSON, KubeClient
from .reflector import Reflector

NAMESPACES = "/api/v1/namespaces"


def _name_and_labels(obj: JSON) -> tuple[str, dict[str, str]]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name", "")), dict(meta.get("labels") or {})


class NamespaceIndex:
    def __init__(self) -> None:
        self._labels: dict[str, dict[str, str]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._listed = asyncio.Event()

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def reflector(self, client: KubeClient) -> Reflector:
        return Reflector(client, NAMESPACES, self, metadata_only=True)

    async def wait_listed(self) -> None:
        await self._listed.wait()

    def labels(self) -> Mapping[str, Mapping[str, str]]:
        return self._labels

    def replaced(self, scope: str, items: list[JSON]) -> None:
        before = dict(self._labels)
        self._labels = dict(_name_and_labels(obj) for obj in items)
        self._listed.set()
        if before != self._labels:
            self._notify()

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        name, labels = _name_and_labels(obj)
        if event_type == "DELETED" or (obj.get("metadata") or {}).get("deletionTimestamp"):
            changed = self._labels.pop(name, None) is not None
        else:
            changed = self._labels.get(name) != labels
            self._labels[name] = labels
        if changed:
            self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
