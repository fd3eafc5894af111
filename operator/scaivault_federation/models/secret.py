"""Secrets as the sync engine and the API see them: what a namespace holds, and a
remote secret mapped to its local path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..labels import (
    ALLOW_OVERWRITE_LABEL,
    BACKEND_LABEL,
    DECLARED_ANNOTATION,
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

SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"
#: Secret types whose values Kubernetes itself issues: no backend ever writes or deletes one
ISSUED_TYPES = frozenset({SERVICE_ACCOUNT_TOKEN, BOOTSTRAP_TOKEN})
#: Kubernetes' built-in credential types: a backend never takes one over (overwrites,
#: re-types or deletes it) unless it wrote it itself
CREDENTIAL_TYPES = ISSUED_TYPES | {
    "kubernetes.io/dockercfg",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
}


@dataclass(frozen=True)
class LocalSecret:
    """A Secret in the backend's namespace, as far as syncing cares."""

    name: str
    data: dict[str, bytes]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: str | None = None
    type: str = "Opaque"
    immutable: bool = False

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
    def overwrite_allowed(self) -> bool:
        """Whether a backend may take this Secret over although it did not write it: it
        opts in by label, and is of no built-in credential type."""
        return (
            self.labels.get(ALLOW_OVERWRITE_LABEL) == "true" and self.type not in CREDENTIAL_TYPES
        )

    @property
    def issued(self) -> bool:
        """Whether Kubernetes issues this Secret's values (a ServiceAccount or bootstrap
        token): never written or deleted, whatever its labels say."""
        return self.type in ISSUED_TYPES

    @property
    def source_mac(self) -> str | None:
        return self.annotations.get(SOURCE_MAC_ANNOTATION)

    @property
    def remote_version(self) -> str | None:
        return self.annotations.get(REMOTE_VERSION_ANNOTATION)

    @property
    def orphaned(self) -> bool:
        return ORPHANED_AT_ANNOTATION in self.annotations


def holds_a_path(secret: LocalSecret) -> bool:
    """Whether a managed Secret holds its path's value as of its backend's last sync: it
    names a path and is not orphaned."""
    return secret.path is not None and not secret.orphaned


@dataclass(frozen=True)
class RemoteItem:
    """A remote secret mapped to its local path, with its data once fetched."""

    local_path: str
    remote_path: str
    data: dict[str, bytes]
    version: str | None = None
    #: type and metadata from ``spec.target`` (None: no target, the Secret's type is kept)
    shape: SecretShape | None = None
    #: the Secret's name when a name template gives it (None: derived from the path)
    secret_name: str | None = None


@dataclass(frozen=True)
class SecretShape:
    """What ``spec.target`` makes of a Secret besides its data: type and declared metadata."""

    type: str = "Opaque"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    immutable: bool = False

    @property
    def is_default(self) -> bool:
        return self == SecretShape()

    def mac_fields(self) -> dict[str, object] | None:
        """What the source MAC covers besides the data (None: nothing, as without a target)."""
        if self.is_default:
            return None
        return {
            "type": self.type,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "immutable": self.immutable,
        }

    def observed(self, secret: LocalSecret) -> SecretShape:
        """``secret`` as this shape sees it: its type, and its values of the declared keys."""
        return SecretShape(
            type=secret.type,
            labels={k: secret.labels[k] for k in self.labels if k in secret.labels},
            annotations={
                k: secret.annotations[k] for k in self.annotations if k in secret.annotations
            },
            immutable=secret.immutable,
        )

    def needs_recreate(self, secret: LocalSecret) -> bool:
        """A Secret's type and an immutable Secret's data cannot change in place."""
        return secret.type != self.type or secret.immutable


def declared_keys(secret: LocalSecret | None) -> tuple[list[str], list[str]]:
    """The label and annotation keys ``spec.target`` declared when ``secret`` was written."""
    raw = secret.annotations.get(DECLARED_ANNOTATION) if secret is not None else None
    if not raw:
        return [], []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [], []
    if not isinstance(parsed, dict):
        return [], []
    labels, annotations = parsed.get("labels"), parsed.get("annotations")
    return (
        [k for k in labels if isinstance(k, str)] if isinstance(labels, list) else [],
        [k for k in annotations if isinstance(k, str)] if isinstance(annotations, list) else [],
    )


def merge_metadata(
    existing: LocalSecret | None, shape: SecretShape | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations of a rewritten Secret before the operator's own are added:
    what ``existing`` has (a label added by hand stays), without keys an earlier
    target declared and this one does not, plus what this one declares."""
    labels = dict(existing.labels) if existing else {}
    annotations = dict(existing.annotations) if existing else {}
    old_labels, old_annotations = declared_keys(existing)
    for key in old_labels:
        labels.pop(key, None)
    for key in old_annotations:
        annotations.pop(key, None)
    annotations.pop(DECLARED_ANNOTATION, None)
    if shape is not None:
        labels.update(shape.labels)
        annotations.update(shape.annotations)
        if shape.labels or shape.annotations:
            annotations[DECLARED_ANNOTATION] = json.dumps(
                {"labels": sorted(shape.labels), "annotations": sorted(shape.annotations)},
                separators=(",", ":"),
            )
    return labels, annotations
