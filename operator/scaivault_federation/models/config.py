"""Typed ``spec.config`` per backend type.

The CRD schema rejects keys that do not belong to a type; these models do the
same for the HTTP API and for code paths that never saw the schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from .base import CamelModel


class BackendType(StrEnum):
    HASHICORP_VAULT = "hashicorp-vault"
    AWS_SECRETS_MANAGER = "aws-secrets-manager"
    AZURE_KEY_VAULT = "azure-key-vault"
    GOOGLE_SECRET_MANAGER = "google-secret-manager"


class VaultAuthMethod(StrEnum):
    TOKEN = "token"
    APPROLE = "approle"
    KUBERNETES = "kubernetes"


class VaultConfig(CamelModel):
    endpoint: str = Field(min_length=1)
    auth_method: VaultAuthMethod = VaultAuthMethod.TOKEN
    auth_config_path: str | None = None
    auth_mount: str | None = None
    role: str | None = None
    service_account: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    namespace: str | None = None
    tls_verify: bool = True
    ca_cert_path: str | None = None
    kv_version: int | None = Field(default=None, ge=1, le=2)


class AwsConfig(CamelModel):
    region: str = Field(min_length=1)
    credentials_path: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    endpoint: str | None = None


class AzureConfig(CamelModel):
    vault_url: str = Field(min_length=1)
    tenant_id: str | None = None
    client_id: str | None = None
    credentials_path: str | None = None


class GoogleConfig(CamelModel):
    project: str = Field(min_length=1)
    credentials_path: str | None = None
    endpoint: str | None = None


BackendConfig = VaultConfig | AwsConfig | AzureConfig | GoogleConfig

CONFIG_MODELS: dict[BackendType, type[CamelModel]] = {
    BackendType.HASHICORP_VAULT: VaultConfig,
    BackendType.AWS_SECRETS_MANAGER: AwsConfig,
    BackendType.AZURE_KEY_VAULT: AzureConfig,
    BackendType.GOOGLE_SECRET_MANAGER: GoogleConfig,
}


def parse_config(backend_type: BackendType, raw: dict[str, Any]) -> BackendConfig:
    """Validate ``raw`` (either spelling) as the config of ``backend_type``."""
    model = CONFIG_MODELS[backend_type]
    parsed = model.model_validate(raw)
    assert isinstance(parsed, VaultConfig | AwsConfig | AzureConfig | GoogleConfig)
    return parsed
