"""What a failure means outward, said once by its type.

Every error the operator or the API can report derives from
:class:`FederationError`, whose class attributes say what it becomes: the
condition reason in the CR status, whether trying again later can help,
whether the remote side answered at all, and the HTTP status and error code
the API answers with. Callers read these attributes instead of testing types
one by one. ``message`` is always safe to show: it never quotes a secret
value, a token or a raw response body.
"""

from __future__ import annotations

from typing import ClassVar

from . import conditions as c


class FederationError(Exception):
    """Base of every failure with a meaning outside the code that raised it."""

    #: the condition reason of the CR status
    reason: ClassVar[str] = c.INTERNAL_ERROR
    #: whether retrying later can help (an instance may override it)
    retryable: bool = False
    #: whether the remote side answered (the connection itself worked)
    reachable: ClassVar[bool] = False
    #: what the HTTP API answers when a request fails with it
    http_status: ClassVar[int] = 500
    http_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def api_message(self) -> str:
        """The message of the API's error body."""
        return self.message

    @property
    def retry_after(self) -> float | None:
        """Seconds the far side asked us to wait, when it said so."""
        return None


def reason_of(error: BaseException) -> str:
    """The condition reason of any failure (an unknown one is an internal error)."""
    return error.reason if isinstance(error, FederationError) else c.INTERNAL_ERROR


def safe_message(error: BaseException) -> str:
    """What status and events say about a failure: typed errors carry safe messages;
    anything else is named by its type only, since its text may quote data."""
    if isinstance(error, FederationError):
        return error.message
    return f"internal error ({type(error).__name__})"


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, FederationError) and error.retryable
