"""AWS access keys as a credentials Secret holds them (no SDK here): read once, for
the Secrets Manager backend and for any other login that signs with them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..base import Credentials
from ..errors import InvalidBackendConfigError
from .config import KEYS


@dataclass(frozen=True)
class AwsKeys:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def static_aws_keys(credentials: Credentials, what: str = "AWS") -> AwsKeys | None:
    """The keys in the credentials Secret; ``None``: use the default chain, which only a
    backend allowed the operator's own identity may (:attr:`Credentials.ambient`)."""
    if not any(credentials.get(k) for k in KEYS):
        if credentials.get("session_token"):
            raise InvalidBackendConfigError(
                "credentials key 'session_token' needs 'access_key_id' and 'secret_access_key'"
            )
        if not credentials.ambient:
            raise credentials.no_static(KEYS, what)
        return None
    token = credentials.require_text("session_token") if credentials.get("session_token") else None
    return AwsKeys(
        credentials.require_text("access_key_id"),
        credentials.require_text("secret_access_key"),
        token,
    )
