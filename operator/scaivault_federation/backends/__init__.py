"""Secret backends behind one async contract (:class:`SecretBackend`).

Importing this package registers the built-in backends with the registry, so
``create_backend`` knows every type the operator ships.
"""

from __future__ import annotations

from . import aws as _aws  # noqa: F401  (registers aws-secrets-manager)
from . import azure as _azure  # noqa: F401  (registers azure-key-vault)
from . import google as _google  # noqa: F401  (registers google-secret-manager)
from . import vault as _vault  # noqa: F401  (registers hashicorp-vault)
from .base import (
    BatchResult,
    CallCounter,
    CallResult,
    Credentials,
    RemoteSecret,
    RemoteSecretRef,
    RemoteValue,
    SecretBackend,
)
from .errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    InvalidSecretValueError,
    SecretNotFoundError,
    ThrottledError,
)
from .registry import BackendFactory, create_backend, register, registered_types

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendFactory",
    "BackendUnavailableError",
    "BatchResult",
    "CallCounter",
    "CallResult",
    "Credentials",
    "InvalidBackendConfigError",
    "InvalidSecretValueError",
    "RemoteSecret",
    "RemoteSecretRef",
    "RemoteValue",
    "SecretBackend",
    "SecretNotFoundError",
    "ThrottledError",
    "create_backend",
    "register",
    "registered_types",
]
