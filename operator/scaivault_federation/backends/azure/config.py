"""``spec.config`` of an ``azure-key-vault`` backend (no SDK here: the models and the
CRD are made from it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ...models.config import (
    BackendConfig,
    Container,
    CredentialsSecret,
    EndpointUrl,
    ScaiVaultPath,
)

NAME = "azure-key-vault"


class AzureConfig(BackendConfig):
    """``spec.config`` of an ``azure-key-vault`` backend."""

    cloud_hosts = (
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".vault.microsoftazure.de",
        ".managedhsm.azure.net",
    )

    vault_url: Annotated[EndpointUrl, Container()] = Field(description="the vault URL")
    tenant_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="Entra ID tenant"
    )
    client_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="application (client) id"
    )
    credentials_path: Annotated[ScaiVaultPath, CredentialsSecret(("client_secret",))] | None = (
        Field(
            default=None,
            description="ScaiVault path of the credentials Secret (labelled "
            "federation.scaivault.io/credentials=true) holding client_secret (with tenantId "
            "and clientId); absent means the platform identity",
        )
    )

    def credentials_user(self) -> str:
        return "Azure Key Vault"

    def ambient_identity(self) -> str | None:
        if self.credentials_path is not None:
            return None
        return "the operator's Azure workload or managed identity"
