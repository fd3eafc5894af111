"""``spec.config`` of an ``aws-secrets-manager`` backend (no SDK here: the models and
the CRD are made from it)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ...models.config import (
    Container,
    CredentialsSecret,
    EndpointUrl,
    ScaiVaultPath,
    ServiceAccountName,
    WorkloadIdentityConfig,
)

NAME = "aws-secrets-manager"
#: the keys of a credentials Secret (``session_token`` may join them)
KEYS = ("access_key_id", "secret_access_key")
#: the ServiceAccount annotation naming the role a keyless backend logs in as (IRSA's)
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


class AwsConfig(WorkloadIdentityConfig):
    """``spec.config`` of an ``aws-secrets-manager`` backend."""

    cloud_hosts = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
    required_annotations = (ROLE_ANNOTATION,)
    not_with_service_account = {
        "credentials_path": "the ServiceAccount's role is the identity, no keys are read"
    }

    service_account: ServiceAccountName | None = Field(
        default=None,
        description="keyless: the ServiceAccount of this namespace whose token (audience "
        f"sts.amazonaws.com) is exchanged for the role its annotation {ROLE_ANNOTATION} "
        "names (AssumeRoleWithWebIdentity); its annotation "
        "federation.scaivault.io/token-for must name this backend. Not with credentialsPath",
    )

    region: Annotated[str, Container()] = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$", description="the AWS region"
    )
    credentials_path: Annotated[ScaiVaultPath, CredentialsSecret(KEYS)] | None = Field(
        default=None,
        description="ScaiVault path of the credentials Secret (labelled "
        "federation.scaivault.io/credentials=true) holding access_key_id, secret_access_key "
        "and optional session_token; absent (and no serviceAccount) means the platform "
        "identity",
    )
    role_arn: Annotated[str, Container()] | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="role to assume (AssumeRole) with those credentials, that identity or "
        "the ServiceAccount's role",
    )
    external_id: str | None = Field(
        default=None, min_length=1, max_length=1224, description="external id for the assumed role"
    )
    endpoint: Annotated[EndpointUrl, Container()] | None = Field(
        default=None, description="the Secrets Manager endpoint (default: the region's)"
    )

    def credentials_user(self) -> str:
        return "AWS Secrets Manager"

    def ambient_identity(self) -> str | None:
        if self.credentials_path is not None or self.service_account is not None:
            return None
        role = " (and the roleArn assumed from it)" if self.role_arn else ""
        return f"the operator's AWS identity{role}"

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        return cls.keyless_rules(NAME)
