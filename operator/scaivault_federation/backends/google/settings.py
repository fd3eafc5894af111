"""The API's settings of the Google receiver (composed into the settings by
:mod:`..registry`): which Pub/Sub push OIDC tokens it accepts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode


class GooglePushSettings(BaseModel):
    api_google_push_audience: str | None = Field(
        default=None,
        min_length=1,
        description="audience of the OIDC tokens of Pub/Sub pushes; set: such a token from "
        "an allowed service account may call the Google receiver",
    )
    api_google_push_service_accounts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="service accounts (emails) whose Pub/Sub push tokens are accepted, "
        "comma-separated",
    )
    api_google_push_issuer: str = Field(
        default="https://accounts.google.com",
        min_length=1,
        description="issuer of Pub/Sub push tokens",
    )
    api_google_push_jwks_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        min_length=1,
        description="where the keys of Pub/Sub push tokens are published",
    )

    @field_validator("api_google_push_service_accounts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _push_needs_accounts(self) -> GooglePushSettings:
        if self.api_google_push_audience and not self.api_google_push_service_accounts:
            raise ValueError(
                "api_google_push_service_accounts (SCAIVAULT_API_GOOGLE_PUSH_SERVICE_ACCOUNTS)"
                " must name the push subscriptions' service accounts when "
                "api_google_push_audience is set (any Google account can mint a token for "
                "any audience)"
            )
        return self
