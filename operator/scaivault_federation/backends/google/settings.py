"""The API's settings of the Google receiver (composed into the API's settings by
:mod:`..registry`, so their variables are ``SCAIVAULT_API_GOOGLE_PUSH_*``): which
Pub/Sub push OIDC tokens it accepts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode


class GooglePushSettings(BaseModel):
    google_push_audience: str | None = Field(
        default=None,
        min_length=1,
        description="audience of the OIDC tokens of Pub/Sub pushes; set: such a token from "
        "an allowed service account may call the Google receiver",
    )
    google_push_service_accounts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="the push subscriptions' service accounts (emails) whose tokens are "
        "accepted, comma-separated; required with the audience",
    )
    google_push_issuer: str = Field(
        default="https://accounts.google.com",
        min_length=1,
        description="issuer of Pub/Sub push tokens",
    )
    google_push_jwks_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        min_length=1,
        description="where the keys of Pub/Sub push tokens are published",
    )

    @field_validator("google_push_service_accounts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _push_needs_accounts(self) -> GooglePushSettings:
        if self.google_push_audience and not self.google_push_service_accounts:
            raise ValueError(
                "api_google_push_service_accounts (SCAIVAULT_API_GOOGLE_PUSH_SERVICE_ACCOUNTS)"
                " must name the push subscriptions' service accounts when "
                "api_google_push_audience is set (any Google account can mint a token for "
                "any audience)"
            )
        return self
