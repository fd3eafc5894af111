"""The operator's settings of Azure Key Vault clients (composed into the operator's
settings by :mod:`..registry`): a CA bundle, and the identity variables AKS
workload identity sets."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field

#: the Azure identity variables the client honours, as AKS workload identity sets them
IDENTITY_VARIABLES = (
    "AZURE_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
)


def _standard(name: str) -> AliasChoices:
    """Read from a standard variable (no ``SCAIVAULT_`` prefix)."""
    return AliasChoices(name.lower(), name)


class AzureSettings(BaseModel):
    azure_ca_bundle: Path | None = Field(
        default=None, description="PEM bundle the Azure backend trusts instead of the system's"
    )
    azure_authority_host: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_AUTHORITY_HOST"),
        description="Entra ID authority for the Azure backend's own identity, and where "
        "keyless Azure backends send their ServiceAccount tokens",
    )
    azure_federated_token_file: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_FEDERATED_TOKEN_FILE"),
        description="workload identity token file (set by AKS)",
    )
    azure_tenant_id: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_TENANT_ID"),
        description="workload identity tenant (set by AKS)",
    )
    azure_client_id: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_CLIENT_ID"),
        description="workload or managed identity client id (set by AKS)",
    )

    def identity(self) -> dict[str, str]:
        """The identity variables that are set, as the Azure SDK reads them."""
        return {
            name: value
            for name in IDENTITY_VARIABLES
            if (value := getattr(self, name.lower())) is not None
        }
