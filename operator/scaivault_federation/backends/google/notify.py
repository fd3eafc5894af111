"""Google Secret Manager changes, as a Pub/Sub push subscription delivers its event
notifications (``message.attributes.eventType`` ``SECRET_VERSION_ADD``, ...,
``secretId`` ``projects/P/secrets/S``).

A change concerns the backends of its project. Events name projects by number,
backends by id or number; a number matches a backend configured by id (it
cannot be told apart here), so such a change re-reads a path in every such
backend that maps it: an extra read, never a wrong write. The secret id
becomes a backend path through the naming rule (:mod:`.names`).

A push subscription with authentication sends its own OIDC token, accepted when
the API is configured for it (:mod:`.push`, :mod:`.settings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ...models.config import BackendConfig
from ..changes import ChangeReceiver, Ignored, Parsed, SecretChange, TokenVerifier, missing, read_as
from .config import NAME, GoogleConfig
from .names import google_path
from .settings import GooglePushSettings

CHANGES = frozenset(
    {
        "SECRET_CREATE",
        "SECRET_DELETE",
        "SECRET_VERSION_ADD",
        "SECRET_VERSION_ENABLE",
        "SECRET_VERSION_DISABLE",
        "SECRET_VERSION_DESTROY",
    }
)
_SECRET = re.compile(r"^projects/([^/]+)/secrets/([^/]+)(?:/versions/[^/]+)?$")


class PubSubMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    messageId: str = Field(min_length=1, validation_alias=AliasChoices("messageId", "message_id"))
    publishTime: str | None = None
    data: str | None = Field(default=None, description="base64; not read")
    attributes: dict[str, str] | None = Field(
        default=None,
        examples=[
            {
                "eventType": "SECRET_VERSION_ADD",
                "secretId": "projects/my-project/secrets/db-password",
            }
        ],
    )


class PubSubPush(BaseModel):
    """A Pub/Sub push delivery of a Secret Manager event notification."""

    model_config = ConfigDict(extra="allow")

    message: PubSubMessage
    subscription: str | None = None


@dataclass(frozen=True)
class GoogleChange(SecretChange):
    #: the project id or number
    project: str | None = None

    def backend_path(self, config: BackendConfig) -> str | None:
        if not isinstance(config, GoogleConfig) or not self._same_project(config.project):
            return None
        return google_path(self.name)

    def _same_project(self, project: str) -> bool:
        if self.project is None or self.project == project:
            return True
        return self.project.isdigit() and not project.isdigit()


def parse(body: Any) -> list[Parsed]:
    """One Pub/Sub push delivery (``{"message": {...}, "subscription": ...}``)."""
    message = read_as(PubSubPush, body).message
    attributes = message.attributes or {}
    kind = attributes.get("eventType")
    if kind is None or kind not in CHANGES:
        reason = (
            f"{kind} changes no secret value" if kind else "not a Secret Manager event notification"
        )
        return [Ignored(message.messageId, kind or "", reason)]
    matched = _SECRET.match(attributes.get("secretId", ""))
    if matched is None:
        raise missing("message.attributes.secretId", "must be projects/PROJECT/secrets/SECRET")
    project, secret = matched.groups()
    return [GoogleChange(NAME, message.messageId, kind, secret, project=project)]


def push_tokens(settings: BaseModel | None) -> TokenVerifier | None:
    """The Pub/Sub push token verifier the settings ask for (``None``: none)."""
    if not isinstance(settings, GooglePushSettings) or not settings.google_push_audience:
        return None
    from .push import PushTokenVerifier  # aiohttp and PyJWT: only in an API that uses it

    return PushTokenVerifier(
        settings.google_push_audience,
        settings.google_push_service_accounts,
        settings.google_push_issuer,
        settings.google_push_jwks_url,
    )


RECEIVER = ChangeReceiver(
    path="google",
    summary="Google Secret Manager event notifications from a Pub/Sub push subscription "
    "(its OIDC token is accepted when the API is configured for it).",
    body=PubSubPush,
    parse=parse,
    tokens=push_tokens,
)
