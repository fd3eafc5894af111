"""``spec.config`` of an ``azure-key-vault`` backend (no SDK here: the models and the
CRD are made from it)."""

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

NAME = "azure-key-vault"
#: the ServiceAccount annotations naming the application a keyless backend logs in as
#: (AKS workload identity's), and its tenant
CLIENT_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ANNOTATION = "azure.workload.identity/tenant-id"


class AzureConfig(WorkloadIdentityConfig):
    """``spec.config`` of an ``azure-key-vault`` backend."""

    cloud_hosts = (
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".vault.microsoftazure.de",
        ".managedhsm.azure.net",
    )
    required_annotations = (CLIENT_ANNOTATION,)
    optional_annotations = (TENANT_ANNOTATION,)
    not_with_service_account = {
        "credentials_path": "the ServiceAccount's application is the identity, no secret is read",
        "client_id": f"the ServiceAccount's annotation {CLIENT_ANNOTATION} names the application",
    }

    service_account: ServiceAccountName | None = Field(
        default=None,
        description="keyless: the ServiceAccount of this namespace whose token (audience "
        "api://AzureADTokenExchange) is the client assertion of the application its "
        f"annotation {CLIENT_ANNOTATION} names (in the tenant of {TENANT_ANNOTATION}, else "
        "tenantId); its annotation federation.scaivault.io/token-for must name this "
        "backend. Not with credentialsPath or clientId",
    )

    vault_url: Annotated[EndpointUrl, Container()] = Field(description="the vault URL")
    tenant_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Entra ID tenant (with serviceAccount: when its annotation names none)",
    )
    client_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="application (client) id"
    )
    credentials_path: Annotated[ScaiVaultPath, CredentialsSecret(("client_secret",))] | None = (
        Field(
            default=None,
            description="ScaiVault path of the credentials Secret (labelled "
            "federation.scaivault.io/credentials=true) holding client_secret (with tenantId "
            "and clientId); absent (and no serviceAccount) means the platform identity",
        )
    )

    def credentials_user(self) -> str:
        return "Azure Key Vault"

    def ambient_identity(self) -> str | None:
        if self.credentials_path is not None or self.service_account is not None:
            return None
        return "the operator's Azure workload or managed identity"

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        return cls.keyless_rules(NAME)
