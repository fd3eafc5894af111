"""Secret backends behind one async contract (:class:`SecretBackend`).

Each type lives in its own package, ``backends/<type>/``, listed by
:mod:`.registry`; :mod:`.factory` makes clients, importing a type's
SDK the first time a client of that type is made, so importing this package
loads no backend SDK.
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

__all__ = [
    "AuthenticationError",
    "BackendError",
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
]
