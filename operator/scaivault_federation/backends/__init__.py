"""Secret backends behind one async contract (:class:`SecretBackend`).

The built-in backends are imported the first time their type is asked for
(:mod:`.registry`), so importing this package loads no backend SDK.
"""

from __future__ import annotations

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
from .registry import (
    BackendEnvironment,
    BackendFactory,
    create_backend,
    register,
    registered_types,
)

__all__ = [
    "AuthenticationError",
    "BackendEnvironment",
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
