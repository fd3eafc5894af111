"""The one place where Vault's answers and transport failures become backend errors.

Secret reads and listings go over aiohttp: :func:`answer_error` maps an error
status (with Vault's ``errors`` list and ``Retry-After``) and
:func:`transport_error` an aiohttp or socket exception. Logins go through
hvac, which raises one exception type per HTTP status (``Forbidden``,
``InvalidPath``, ``RateLimitExceeded``, ``VaultDown``, ...) whose text may
quote Vault's answer or the request URL, while requests raises
``ConnectionError``, ``Timeout``, ``SSLError``; :func:`backend_error` maps
those. Either way the result is a typed error of :mod:`.errors` whose message
is made of the API path, the status and a category, never the answer's body or
the exception's own text.

Vault answers 400 to a lease request on a lease it no longer holds ("lease not
found", "invalid lease", "lease expired"), to the revocation of a certificate
whose serial its PKI engine does not know ("certificate with serial … not
found"), and to the renewal of one that may
not be renewed ("lease is not renewable"): for the lease operations (see
:data:`LEASE_OPERATIONS`) those become :class:`..leases.LeaseNotFoundError` and
:class:`..leases.RenewalRefusedError`, matched on Vault's ``errors`` list.

hvac's exceptions carry neither the status of an unmapped code nor response
headers, so :class:`VaultAdapter` (hvac's JSON adapter) notes both on the
exception it raises: the status, and ``Retry-After`` for throttling.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import hvac.adapters
import hvac.exceptions
import requests

from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)
from ..leases import LeaseNotFoundError, RenewalRefusedError

#: the operations on an existing lease, whose 400 answers may say it is gone or fixed
LEASE_OPERATIONS = frozenset({"renew", "revoke", "lookup_lease", "revoke_certificate"})
_LEASE_GONE = ("lease not found", "invalid lease", "lease expired", "certificate with serial")
_NOT_RENEWABLE = ("not renewable",)

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
        return status_error(
            _status(exc), api_path, operation, _errors(exc), getattr(exc, "retry_after", None)
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return BackendUnavailableError(f"TLS with {display} failed for {api_path!r} (SSLError)")
    if isinstance(exc, requests.RequestException | OSError | TimeoutError):
        return BackendUnavailableError(
            f"cannot reach {display} for {api_path!r} ({type(exc).__name__})"
        )
    return BackendError(f"request for {api_path!r} failed ({type(exc).__name__})")


def transport_error(exc: BaseException, api_path: str, display: str) -> BackendError:
    """An aiohttp request on ``api_path`` that got no answer, as a typed backend error."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return BackendUnavailableError(f"TLS with {display} failed for {api_path!r} (SSLError)")
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return BackendUnavailableError(
            f"cannot reach {display} for {api_path!r} ({type(exc).__name__})"
        )
    return BackendError(f"request for {api_path!r} failed ({type(exc).__name__})")


def answer_error(
    status: int, body: bytes, retry_after: str | None, api_path: str, operation: str
) -> BackendError:
    """Vault's error answer (``status`` >= 400) on ``api_path`` as a typed backend error;
    the body is read only for Vault's ``errors`` list (whether it says sealed)."""
    errors: list[str] = []
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errors"), list):
        errors = [str(e) for e in parsed["errors"]]
    return status_error(status, api_path, operation, errors, retry_after)


def status_error(
    status: int | None,
    api_path: str,
    operation: str,
    errors: list[str],
    retry_after: str | None,
) -> BackendError:
    """The typed error of Vault's ``status`` for a request on ``api_path``."""
    where = f"{api_path!r} (HTTP {status})" if status else repr(api_path)
    if operation == "login" and status in (400, 401, 403):
        # Vault answers 400 to a wrong role or secret ID
        return AuthenticationError(f"login rejected at {where}")
    if operation in LEASE_OPERATIONS and status == 400:
        said = " ".join(errors).lower()
        if any(words in said for words in _LEASE_GONE):
            return LeaseNotFoundError(f"Vault holds no such lease, at {where}")
        if any(words in said for words in _NOT_RENEWABLE):
            return RenewalRefusedError(f"the lease is not renewable, at {where}")
        return BackendError(f"Vault refused the lease request at {where}", retryable=True)
    if status in (401, 403):
        return AuthenticationError(f"permission denied at {where}")
    if status == 404:
        return SecretNotFoundError(f"nothing at {where}")
    if status == 429:
        return ThrottledError(f"throttled at {where}", retry_after=_retry_after(retry_after))
    if status == 400:
        return InvalidBackendConfigError(f"invalid request for {where}")
    if status == 503 and any("sealed" in e.lower() for e in errors):
        return BackendUnavailableError(f"Vault is sealed, at {where}")
    if (status is not None and status >= 500) or status == 412:
        return BackendUnavailableError(f"server error at {where}")
    if status is None:
        return BackendError(f"request for {where} refused by the client")
    return BackendError(f"unexpected answer at {where}")


def _status(exc: hvac.exceptions.VaultError) -> int | None:
    noted = getattr(exc, "status_code", None)
    if isinstance(noted, int):
        return noted
    for cls, status in _STATUS_OF:
        if isinstance(exc, cls):
            return status
    return None


def _errors(exc: hvac.exceptions.VaultError) -> list[str]:
    errors: Any = exc.errors
    if isinstance(errors, str):
        errors = [errors]
    return [str(e) for e in errors] if isinstance(errors, list) else []


def _retry_after(raw: object) -> float | None:
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
