"""The settings of the Google type, composed into the operator's by :mod:`..registry`:
the clients' (:class:`GoogleSettings`: where keyless backends exchange their
ServiceAccount tokens), and the API's receiver's (:class:`GooglePushSettings`, so
their variables are ``SCAIVAULT_API_GOOGLE_PUSH_*``: which Pub/Sub push OIDC tokens
it accepts)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from ...models.endpoint import parse_endpoint
from .config import PROVIDER_PATTERN


class GoogleSettings(BaseModel):
    google_workload_identity_provider: str | None = Field(
        default=None,
        pattern=PROVIDER_PATTERN,
        description="the workload identity pool provider (//iam.googleapis.com/projects/<number>"
        "/locations/global/workloadIdentityPools/<pool>/providers/<provider>) keyless Google "
        "backends exchange their ServiceAccount tokens at when their config names none",
    )
    google_sts_url: str = Field(
        default="https://sts.googleapis.com/v1/token",
        description="the Security Token Service keyless Google backends exchange their "
        "ServiceAccount tokens at; never a backend's own endpoint",
    )
    google_iam_credentials_url: str = Field(
        default="https://iamcredentials.googleapis.com",
        description="the IAM credentials service keyless Google backends impersonate their "
        "Google service account at (generateAccessToken)",
    )

    @field_validator("google_sts_url", "google_iam_credentials_url")
    @classmethod
    def _google_urls(cls, value: str) -> str:
        parse_endpoint(value)  # raises naming what is wrong
        return value


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
