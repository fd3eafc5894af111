"""Errors raised by secret backends, one type per way a call can fail.

Each type says once what it means outward (see :mod:`..errors`): the
condition reason, whether trying again later can help, the bucket its call is
counted in, and what the HTTP API answers when a proxied read fails with it.
``ThrottledError`` carries the server's ``Retry-After``. A message names the
path, the HTTP status and a short category of the backend's complaint. It
never carries a secret value, a token, a credential or a raw response body,
because these messages end up in CR status, Events and logs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from .. import conditions as c
from ..errors import FederationError

CallResult = Literal["ok", "not_found", "auth_failed", "throttled", "unavailable", "error"]


class BackendError(FederationError):
    """Base of every backend failure."""

    reason: ClassVar[str] = c.BACKEND_ERROR
    http_status: ClassVar[int] = 502
    http_code: ClassVar[str] = "backend_error"
    #: the bucket of the backend's call counter a call failing with it lands in
    call_result: ClassVar[CallResult] = "error"
    #: how the API introduces the message
    api_summary: ClassVar[str] = "the backend failed"

    def api_message(self) -> str:
        return f"{self.api_summary}: {self.message}"


class SecretNotFoundError(BackendError):
    """The path holds no (live) secret."""

    reason = c.SECRET_NOT_FOUND
    reachable = True
    http_status = 404
    http_code = "not_found"
    call_result = "not_found"

    def api_message(self) -> str:
        return "the backend holds no secret at this path"


class AuthenticationError(BackendError):
    """The credentials were rejected or lack permission for the path."""

    reason = c.AUTHENTICATION_FAILED
    reachable = True
    http_code = "backend_auth_failed"
    call_result = "auth_failed"
    api_summary = "the backend rejected the credentials"


class ThrottledError(BackendError):
    """The backend asked us to slow down."""

    reason = c.THROTTLED
    retryable = True
    reachable = True
    http_status = 503
    http_code = "backend_throttled"
    call_result = "throttled"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self._retry_after = retry_after

    @property
    def retry_after(self) -> float | None:
        return self._retry_after

    def api_message(self) -> str:
        return "the backend is throttling requests"


class BackendUnavailableError(BackendError):
    """The backend could not be reached, timed out, is sealed or failed (5xx)."""

    reason = c.BACKEND_UNAVAILABLE
    retryable = True
    http_status = 503
    http_code = "backend_unavailable"
    call_result = "unavailable"

    def api_message(self) -> str:
        return "the backend is unavailable"


class InvalidBackendConfigError(BackendError):
    """The backend configuration or its credentials Secret cannot work."""

    reason = c.INVALID_CONFIG
    reachable = True
    http_code = "backend_misconfigured"
    api_summary = "the backend is misconfigured"


class ServiceAccountNotFoundError(InvalidBackendConfigError):
    """The ServiceAccount the config names does not exist in the backend's namespace."""

    reason = c.SERVICE_ACCOUNT_NOT_FOUND


class ServiceAccountNotOptedInError(InvalidBackendConfigError):
    """The ServiceAccount the config names has not agreed to lend its tokens to the
    backend (its annotations do not name it, or do not name a cloud identity)."""

    reason = c.SERVICE_ACCOUNT_NOT_OPTED_IN


class TokenExchangeRefusedError(AuthenticationError):
    """The cloud's token endpoint refused a ServiceAccount's token (the message carries
    the cloud's error code, never the token)."""

    reason = c.TOKEN_EXCHANGE_REFUSED
    api_summary = "the cloud refused the ServiceAccount's token"


class InvalidSecretValueError(BackendError):
    """The backend returned a value this operator cannot represent."""

    reachable = True
    http_code = "backend_value_invalid"
    api_summary = "the backend's value"
