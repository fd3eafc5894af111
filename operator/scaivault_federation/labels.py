"""The names of the stable contract: the API group and kind of the CR, and the label
and annotation names on managed Secrets and on the CR."""

from __future__ import annotations

GROUP = "federation.scaivault.io"
VERSION = "v1alpha1"
KIND = "FederationBackend"
PLURAL = "federationbackends"
CLUSTER_KIND = "ClusterFederationBackend"
CLUSTER_PLURAL = "clusterfederationbackends"
LEASE_KIND = "FederationLease"
LEASE_PLURAL = "federationleases"
CERTIFICATE_KIND = "FederationCertificate"
CERTIFICATE_PLURAL = "federationcertificates"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "scaivault-federation"
BACKEND_LABEL = f"{GROUP}/backend"
#: on Secrets a ClusterFederationBackend manages: its name (beside BACKEND_LABEL's owner key)
CLUSTER_BACKEND_LABEL = f"{GROUP}/cluster-backend"
#: BACKEND_LABEL's value on a ClusterFederationBackend's Secrets is this + its name: the
#: underscore is in no object name, so a FederationBackend of the same name never matches
CLUSTER_OWNER_PREFIX = "cluster_"

PATH_ANNOTATION = f"{GROUP}/path"
REMOTE_PATH_ANNOTATION = f"{GROUP}/remote-path"
SOURCE_MAC_ANNOTATION = f"{GROUP}/source-mac"
SYNCED_AT_ANNOTATION = f"{GROUP}/synced-at"
REMOTE_VERSION_ANNOTATION = f"{GROUP}/remote-version"
ORPHANED_AT_ANNOTATION = f"{GROUP}/orphaned-at"
#: the label and annotation keys spec.target declared when the Secret was written
DECLARED_ANNOTATION = f"{GROUP}/declared-metadata"
#: on a Secret no backend manages: ``"true"`` lets a backend with ``conflictPolicy:
#: overwrite`` take it over (never one of a built-in credential type)
ALLOW_OVERWRITE_LABEL = f"{GROUP}/allow-overwrite"
#: set on a workload's pod template to restart it after a synced Secret changed
RESTARTED_AT_ANNOTATION = f"{GROUP}/restarted-at"

SYNC_REQUESTED_ANNOTATION = f"{GROUP}/sync-requested-at"
#: a per-path sync: ``{"requestedAt": <the sync-requested-at value>, "paths": [...]}``
SYNC_PATHS_ANNOTATION = f"{GROUP}/sync-paths"
FINALIZER = f"{GROUP}/finalizer"
#: on a Secret a FederationLease or FederationCertificate writes: the resource's name
LEASE_LABEL = f"{GROUP}/lease"
CERTIFICATE_LABEL = f"{GROUP}/certificate"
#: on such a Secret: the id of the lease whose credentials it holds, or the
#: certificate's serial number (what a restart compares with the status)
LEASE_ID_ANNOTATION = f"{GROUP}/lease-id"
CERTIFICATE_SERIAL_ANNOTATION = f"{GROUP}/certificate-serial"
#: annotations an earlier operator had kopf keep on ClusterFederationBackends (the last
#: handled spec, handler progress, kopf's marker) that nothing reads any more: removed
#: when the fleet first acts on one
LEFTOVER_ANNOTATIONS = (
    f"{GROUP}/last-handled-configuration",
    f"{GROUP}/cluster_backend_deleted",
    f"{GROUP}/touch-dummy",
    f"{GROUP}/kopf-managed",
)

#: on a Secret: ``"true"`` lets a backend's config name it as a credentials Secret
CREDENTIALS_LABEL = f"{GROUP}/credentials"
CREDENTIALS_LABEL_VALUE = "true"


def credentials_labels() -> dict[str, str]:
    """The labels a Secret carries to be read as a backend's credentials."""
    return {CREDENTIALS_LABEL: CREDENTIALS_LABEL_VALUE}


#: on a ServiceAccount: the backends that may request its tokens (names, or ``*``)
TOKEN_FOR_ANNOTATION = f"{GROUP}/token-for"


def cluster_owner(name: str) -> str:
    """The owner key (BACKEND_LABEL's value) of a ClusterFederationBackend's Secrets."""
    return CLUSTER_OWNER_PREFIX + name


def owner_labels(owner: str) -> dict[str, str]:
    """The labels naming a Secret's owner: a FederationBackend's name, or a cluster
    backend's owner key plus its plain name."""
    labels = {MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: owner}
    if owner.startswith(CLUSTER_OWNER_PREFIX):
        labels[CLUSTER_BACKEND_LABEL] = owner[len(CLUSTER_OWNER_PREFIX) :]
    return labels


def managed_selector(backend_name: str) -> str:
    """The label selector of the Secrets one backend manages."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{BACKEND_LABEL}={backend_name}"
