"""The names of the stable contract: the API group and kind of the CR, and the label
and annotation names on managed Secrets and on the CR."""

from __future__ import annotations

GROUP = "federation.scaivault.io"
VERSION = "v1alpha1"
KIND = "FederationBackend"
PLURAL = "federationbackends"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "scaivault-federation"
BACKEND_LABEL = f"{GROUP}/backend"

PATH_ANNOTATION = f"{GROUP}/path"
REMOTE_PATH_ANNOTATION = f"{GROUP}/remote-path"
SOURCE_MAC_ANNOTATION = f"{GROUP}/source-mac"
SYNCED_AT_ANNOTATION = f"{GROUP}/synced-at"
REMOTE_VERSION_ANNOTATION = f"{GROUP}/remote-version"
ORPHANED_AT_ANNOTATION = f"{GROUP}/orphaned-at"
#: the label and annotation keys spec.target declared when the Secret was written
DECLARED_ANNOTATION = f"{GROUP}/declared-metadata"
#: set on a workload's pod template to restart it after a synced Secret changed
RESTARTED_AT_ANNOTATION = f"{GROUP}/restarted-at"

SYNC_REQUESTED_ANNOTATION = f"{GROUP}/sync-requested-at"
#: a per-path sync: ``{"requestedAt": <the sync-requested-at value>, "paths": [...]}``
SYNC_PATHS_ANNOTATION = f"{GROUP}/sync-paths"
FINALIZER = f"{GROUP}/finalizer"


def managed_selector(backend_name: str) -> str:
    """The label selector of the Secrets one backend manages."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{BACKEND_LABEL}={backend_name}"
