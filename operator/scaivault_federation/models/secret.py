"""Secrets as the sync engine and the API see them: what a namespace holds, and a
remote secret mapped to its local path."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..labels import (
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
)

#: a value as a backend returns it: text, bytes, or a JSON object
RemoteValue = str | bytes | dict[str, object]


@dataclass(frozen=True)
class LocalSecret:
    """A Secret in the backend's namespace, as far as syncing cares."""

    name: str
    data: dict[str, bytes]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: str | None = None
    type: str = "Opaque"

    @property
    def path(self) -> str | None:
        return self.annotations.get(PATH_ANNOTATION)

    @property
    def remote_path(self) -> str | None:
        return self.annotations.get(REMOTE_PATH_ANNOTATION)

    @property
    def managed_by(self) -> str | None:
        """The name of the backend managing it, or None for a Secret we do not manage."""
        if self.labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
            return None
        return self.labels.get(BACKEND_LABEL)

    @property
    def source_mac(self) -> str | None:
        return self.annotations.get(SOURCE_MAC_ANNOTATION)

    @property
    def remote_version(self) -> str | None:
        return self.annotations.get(REMOTE_VERSION_ANNOTATION)

    @property
    def orphaned(self) -> bool:
        return ORPHANED_AT_ANNOTATION in self.annotations


@dataclass(frozen=True)
class RemoteItem:
    """A remote secret mapped to its local path, with its data once fetched."""

    local_path: str
    remote_path: str
    data: dict[str, bytes]
    version: str | None = None
