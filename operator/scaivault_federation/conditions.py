"""Condition types and reasons: one place, so GitOps tools and tests see fixed strings."""

from __future__ import annotations

READY = "Ready"
SYNCED = "Synced"

# Reasons
PENDING = "Pending"
SYNC_SUCCEEDED = "SyncSucceeded"
SYNCED_WITH_CONFLICTS = "SyncedWithConflicts"
PARTIAL_SYNC = "PartialSync"
CONNECTED = "Connected"
PROXY_MODE = "ProxyMode"
SUSPENDED = "Suspended"
BACKEND_UNAVAILABLE = "BackendUnavailable"
AUTHENTICATION_FAILED = "AuthenticationFailed"
THROTTLED = "Throttled"
INVALID_CONFIG = "InvalidConfig"
SECRET_NOT_FOUND = "SecretNotFound"
BACKEND_ERROR = "BackendError"
KUBERNETES_ERROR = "KubernetesError"
INTERNAL_ERROR = "InternalError"
