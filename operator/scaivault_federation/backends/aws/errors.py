"""AWS errors as backend errors.

Errors are mapped by AWS error code and HTTP status. A message names the
operation, the path and the error code, never AWS's message text, the
credentials or a secret value.

botocore logs whole requests (with the session token), canonical requests
and response bodies (secret values) at DEBUG level; importing this module
holds those loggers at INFO, so a verbose operator log never carries them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)

# botocore loggers whose DEBUG records carry credentials or secret values
_SENSITIVE_LOGGERS = ("botocore.auth", "botocore.endpoint", "botocore.parsers")

AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "InvalidToken",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "NotAuthorized",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
THROTTLING_CODES = frozenset(
    {
        "LimitExceededException",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchEntity"})
INVALID_CODES = frozenset(
    {
        "InvalidNextTokenException",
        "InvalidParameter",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidRequestException",
        "MalformedPolicyDocument",
        "ValidationError",
        "ValidationException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalFailure", "InternalServiceError", "ServiceUnavailable", "ServiceUnavailableException"}
)
# An error code as AWS spells it: a short alphanumeric word (anything else is not echoed).
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,63}$")
# Some AWS-compatible servers answer JSON-protocol calls with an XML error body,
# which botocore cannot parse; only the code element is read from it.
_XML_CODE = re.compile(r"<Code>([A-Za-z][A-Za-z0-9.]{0,63})</Code>")


def quiet_botocore() -> None:
    """Keep botocore's request and response dumps out of the logs, whatever the root level."""
    for name in _SENSITIVE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


quiet_botocore()


def error_code(error: ClientError) -> tuple[str, int | None]:
    """The AWS error code (``""`` if unknown) and the HTTP status of ``error``."""
    info: Mapping[str, Any] = error.response.get("Error") or {}
    meta: Mapping[str, Any] = error.response.get("ResponseMetadata") or {}
    raw_status = meta.get("HTTPStatusCode")
    status = raw_status if isinstance(raw_status, int) else None
    code = str(info.get("Code") or "")
    if not _CODE.match(code):
        found = _XML_CODE.search(str(info.get("Message") or ""))
        code = found.group(1) if found else ""
    return code, status


def error_for_code(
    code: str, status: int | None, where: str, message_hint: str = ""
) -> BackendError:
    """The backend error for an AWS error ``code`` (and HTTP ``status``) at ``where``."""
    detail = f"{where}: {code or 'error'}" + (f" (HTTP {status})" if status else "")
    if code in AUTH_CODES or (not code and status in (401, 403)):
        return AuthenticationError(f"access denied for {detail}")
    if code in NOT_FOUND_CODES:
        return SecretNotFoundError(f"not found: {detail}")
    if code == "InvalidRequestException" and "delet" in message_hint.lower():
        # the secret is scheduled for deletion: there is no live value
        return SecretNotFoundError(f"scheduled for deletion: {detail}")
    if code in THROTTLING_CODES or status == 429:
        return ThrottledError(f"throttled: {detail}")
    if code in INVALID_CODES:
        return InvalidBackendConfigError(f"invalid request: {detail}")
    if code in UNAVAILABLE_CODES or (status is not None and status >= 500):
        return BackendUnavailableError(f"server error: {detail}")
    if status in (401, 403):
        return AuthenticationError(f"access denied for {detail}")
    if status == 404:
        return SecretNotFoundError(f"not found: {detail}")
    return BackendError(f"unexpected answer: {detail}")


def map_error(exc: Exception, where: str) -> BackendError:
    """``exc`` raised by a boto3 call as a backend error; ``where`` names operation and path."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        hint = str((exc.response.get("Error") or {}).get("Message") or "")
        error = error_for_code(code, status, where, hint)
        if isinstance(error, ThrottledError):
            return ThrottledError(error.message, retry_after=_retry_after(exc))
        return error
    name = type(exc).__name__
    if isinstance(exc, ConnectionError | HTTPClientError):
        return BackendUnavailableError(f"cannot reach AWS for {where} ({name})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return AuthenticationError(f"no usable AWS credentials for {where} ({name})")
    if isinstance(exc, BotoCoreError):
        return InvalidBackendConfigError(f"cannot call AWS for {where} ({name})")
    return BackendError(f"unexpected failure of {where} ({name})")


def _retry_after(error: ClientError) -> float | None:
    meta: Mapping[str, Any] = error.response.get("ResponseMetadata") or {}
    headers: Mapping[str, Any] = meta.get("HTTPHeaders") or {}
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None
