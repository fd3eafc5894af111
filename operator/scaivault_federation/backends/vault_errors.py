"""The one place where hvac's and requests' exceptions become backend errors.

hvac raises one exception type per HTTP status (``Forbidden``, ``InvalidPath``,
``RateLimitExceeded``, ``VaultDown``, ...) whose text may quote Vault's answer
or the request URL; requests raises ``ConnectionError``, ``Timeout``,
``SSLError``. :func:`backend_error` maps each to the typed errors of
:mod:`.errors` with a message made of the API path, the status and a
category, never the exception's own text.

hvac's exceptions carry neither the status of an unmapped code nor response
headers, so :class:`VaultAdapter` (hvac's JSON adapter) notes both on the
exception it raises: the status, and ``Retry-After`` for throttling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import hvac.adapters
import hvac.exceptions
import requests

from .errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)

# hvac's exception types by the status they stand for (when the adapter did not
# note the status itself, e.g. hvac raised one before sending anything)
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (hvac.exceptions.InvalidRequest, 400),
    (hvac.exceptions.Unauthorized, 401),
    (hvac.exceptions.Forbidden, 403),
    (hvac.exceptions.InvalidPath, 404),
    (hvac.exceptions.UnsupportedOperation, 405),
    (hvac.exceptions.PreconditionFailed, 412),
    (hvac.exceptions.RateLimitExceeded, 429),
    (hvac.exceptions.InternalServerError, 500),
    (hvac.exceptions.VaultNotInitialized, 501),
    (hvac.exceptions.BadGateway, 502),
    (hvac.exceptions.VaultDown, 503),
)


class VaultAdapter(hvac.adapters.JSONAdapter):  # type: ignore[misc]
    """hvac's JSON adapter, noting the HTTP status and ``Retry-After`` on its errors."""

    def _raise_for_error(self, method: str, url: str, response: requests.Response) -> None:
        try:
            super()._raise_for_error(method, url, response)
        except hvac.exceptions.VaultError as error:
            error.status_code = response.status_code
            error.retry_after = response.headers.get("Retry-After")
            raise


def backend_error(exc: BaseException, api_path: str, operation: str, display: str) -> BackendError:
    """``exc`` from an hvac call on ``api_path`` as a typed backend error."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, hvac.exceptions.VaultError):
        return _status_error(exc, api_path, operation)
    if isinstance(exc, requests.exceptions.SSLError):
        return BackendUnavailableError(f"TLS with {display} failed for {api_path!r} (SSLError)")
    if isinstance(exc, requests.RequestException | OSError | TimeoutError):
        return BackendUnavailableError(
            f"cannot reach {display} for {api_path!r} ({type(exc).__name__})"
        )
    return BackendError(f"request for {api_path!r} failed ({type(exc).__name__})")


def _status_error(exc: hvac.exceptions.VaultError, api_path: str, operation: str) -> BackendError:
    status = _status(exc)
    where = f"{api_path!r} (HTTP {status})" if status else repr(api_path)
    if operation == "login" and status in (400, 401, 403):
        # Vault answers 400 to a wrong role or secret ID
        return AuthenticationError(f"login rejected at {where}")
    if status in (401, 403):
        return AuthenticationError(f"permission denied at {where}")
    if status == 404:
        return SecretNotFoundError(f"nothing at {where}")
    if status == 429:
        return ThrottledError(f"throttled at {where}", retry_after=_retry_after(exc))
    if status == 400:
        return InvalidBackendConfigError(f"invalid request for {where}")
    if status == 503 and _mentions(exc, "sealed"):
        return BackendUnavailableError(f"Vault is sealed, at {where}")
    if (status is not None and status >= 500) or status == 412:
        return BackendUnavailableError(f"server error at {where}")
    if status is None:
        return BackendError(f"request for {where} refused by the client ({type(exc).__name__})")
    return BackendError(f"unexpected answer at {where}")


def _status(exc: hvac.exceptions.VaultError) -> int | None:
    noted = getattr(exc, "status_code", None)
    if isinstance(noted, int):
        return noted
    for cls, status in _STATUS_OF:
        if isinstance(exc, cls):
            return status
    return None


def _mentions(exc: hvac.exceptions.VaultError, word: str) -> bool:
    errors: Any = exc.errors
    if isinstance(errors, str):
        errors = [errors]
    return isinstance(errors, list) and any(word in str(e).lower() for e in errors)


def _retry_after(exc: hvac.exceptions.VaultError) -> float | None:
    raw = getattr(exc, "retry_after", None)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
