"""Errors raised by secret backends, one type per way a call can fail.

The sync engine and the HTTP API decide what to do from the type alone:
``retryable`` says whether trying again later can help, ``ThrottledError``
carries the server's ``Retry-After``. A message names the path, the HTTP
status and a short category of the backend's complaint. It never carries a
secret value, a token, a credential or a raw response body, because these
messages end up in CR status, Events and logs.
"""

from __future__ import annotations


class BackendError(Exception):
    """Base of every backend failure."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class SecretNotFoundError(BackendError):
    """The path holds no (live) secret."""


class AuthenticationError(BackendError):
    """The credentials were rejected or lack permission for the path."""


class ThrottledError(BackendError):
    """The backend asked us to slow down."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailableError(BackendError):
    """The backend could not be reached, timed out, is sealed or failed (5xx)."""

    retryable = True


class InvalidBackendConfigError(BackendError):
    """The backend configuration or its credentials Secret cannot work."""


class InvalidSecretValueError(BackendError):
    """The backend returned a value this operator cannot represent."""
