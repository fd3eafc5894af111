"""The operator's settings of AWS Secrets Manager clients (composed into the operator's
settings by :mod:`..registry`): where keyless backends exchange their ServiceAccount
tokens."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field, field_validator

from ...models.endpoint import parse_endpoint

#: the variable the AWS SDKs read for the STS endpoint
STS_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_STS"


class AwsSettings(BaseModel):
    aws_endpoint_url_sts: str | None = Field(
        default=None,
        validation_alias=AliasChoices(STS_ENDPOINT_VARIABLE.lower(), STS_ENDPOINT_VARIABLE),
        description="the STS endpoint keyless AWS backends exchange their ServiceAccount "
        "tokens at (AssumeRoleWithWebIdentity, and the roleArn they chain to); never a "
        "backend's own endpoint (default: the STS endpoint of the backend's region)",
    )

    @field_validator("aws_endpoint_url_sts")
    @classmethod
    def _aws_sts_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_endpoint(value)  # raises naming what is wrong
        return value
