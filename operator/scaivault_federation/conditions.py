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
# a ServiceAccount the config names to log in as: absent from the namespace, or not
# consenting (InvalidConfig's kind)
SERVICE_ACCOUNT_NOT_FOUND = "ServiceAccountNotFound"
SERVICE_ACCOUNT_NOT_OPTED_IN = "ServiceAccountNotOptedIn"
# the cloud's token endpoint refused the ServiceAccount's token (AuthenticationFailed's kind)
TOKEN_EXCHANGE_REFUSED = "TokenExchangeRefused"
SECRET_NOT_FOUND = "SecretNotFound"
BACKEND_ERROR = "BackendError"
KUBERNETES_ERROR = "KubernetesError"
INTERNAL_ERROR = "InternalError"
# leased secrets: the backend no longer holds the lease, or refuses to extend it
LEASE_NOT_FOUND = "LeaseNotFound"
RENEWAL_REFUSED = "RenewalRefused"
# leased secrets: current credentials or certificate in the Secret; the Secret to write
# is another's; the backend named is not one that issues leases
ISSUED = "Issued"
SECRET_CONFLICT = "SecretConflict"
BACKEND_NOT_USABLE = "BackendNotUsable"
# certificates: whether spec.renewBefore is applied as written (False: it leaves less
# than a third of the lifetime the PKI granted, the certificate is re-issued at two
# thirds of it instead)
RENEW_BEFORE_APPLIED = "RenewBeforeApplied"
RENEW_BEFORE_TOO_LONG = "RenewBeforeTooLong"
