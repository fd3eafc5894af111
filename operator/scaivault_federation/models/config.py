"""Typed ``spec.config`` per backend type.

The CRD schema rejects keys that do not belong to a type; these models do the
same for the HTTP API and for code paths that never saw the schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from .base import CamelModel
from .endpoint import parse_endpoint


def _url(value: str) -> str:
    parse_endpoint(value)  # raises naming what is wrong, never echoing the value
    return value


def _url_or_host(value: str) -> str:
    parse_endpoint(value, bare=True)
    return value


#: an http(s) URL, checked by the one endpoint parser and kept as written
EndpointUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_url)]
#: the same, or ``host[:port]``
EndpointUrlOrHost = Annotated[
    str, Field(min_length=1, max_length=2048), AfterValidator(_url_or_host)
]


class BackendType(StrEnum):
    HASHICORP_VAULT = "hashicorp-vault"
    AWS_SECRETS_MANAGER = "aws-secrets-manager"
    AZURE_KEY_VAULT = "azure-key-vault"
    GOOGLE_SECRET_MANAGER = "google-secret-manager"


class VaultAuthMethod(StrEnum):
    TOKEN = "token"
    APPROLE = "approle"
    KUBERNETES = "kubernetes"
    JWT = "jwt"
    USERPASS = "userpass"
    LDAP = "ldap"
    CERT = "cert"
    AWS = "aws"
    GCP = "gcp"


class GcpAuthType(StrEnum):
    IAM = "iam"  # a JWT signed with a service-account key from the credentials Secret
    GCE = "gce"  # the instance identity token of the GCE metadata server


_LOGIN_METHODS = frozenset(VaultAuthMethod) - {VaultAuthMethod.TOKEN}

#: Vault config fields that only some auth methods take (every other field is common).
VAULT_METHOD_FIELDS: dict[str, frozenset[VaultAuthMethod]] = {
    "gcp_auth_type": frozenset({VaultAuthMethod.GCP}),
    "auth_mount": _LOGIN_METHODS,
    "role": frozenset(
        {
            VaultAuthMethod.KUBERNETES,
            VaultAuthMethod.JWT,
            VaultAuthMethod.CERT,
            VaultAuthMethod.AWS,
            VaultAuthMethod.GCP,
        }
    ),
    "service_account": frozenset({VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT}),
    "audience": frozenset({VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT}),
    "sts_region": frozenset({VaultAuthMethod.AWS}),
    "iam_server_id_header": frozenset({VaultAuthMethod.AWS}),
}


class VaultConfig(CamelModel):
    """``spec.config`` of a ``hashicorp-vault`` backend.

    Fields that belong to some auth methods only (:data:`VAULT_METHOD_FIELDS`) are
    rejected for the others, naming the field; what a method needs beyond that
    (a role, credentials keys) is checked when the backend is built.
    """

    endpoint: EndpointUrl
    auth_method: VaultAuthMethod = VaultAuthMethod.TOKEN
    gcp_auth_type: GcpAuthType | None = None
    auth_config_path: str | None = None
    auth_mount: str | None = None
    role: str | None = None
    service_account: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    audience: str | None = Field(default=None, min_length=1, max_length=256)
    sts_region: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9-]+$")
    iam_server_id_header: str | None = Field(default=None, min_length=1, max_length=256)
    namespace: str | None = None
    tls_verify: bool = True
    ca_cert_path: str | None = None
    kv_version: int | None = Field(default=None, ge=1, le=2)

    @field_validator("auth_method")
    @classmethod
    def _method_fits_endpoint(cls, value: VaultAuthMethod, info: ValidationInfo) -> VaultAuthMethod:
        endpoint = info.data.get("endpoint")
        if (
            value is VaultAuthMethod.CERT
            and isinstance(endpoint, str)
            and not endpoint.lower().startswith("https://")
        ):
            raise ValueError("cert needs an https endpoint (the client certificate is sent in TLS)")
        return value

    @field_validator(*VAULT_METHOD_FIELDS)
    @classmethod
    def _belongs_to_the_method(cls, value: object, info: ValidationInfo) -> object:
        method = info.data.get("auth_method")
        name = info.field_name
        if value is None or method is None or name is None:
            return value
        if method not in VAULT_METHOD_FIELDS[name]:
            raise ValueError(f"is not valid with auth method {method.value!r}")
        return value

    @field_validator("auth_config_path")
    @classmethod
    def _credentials_wanted(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("gcp_auth_type") is GcpAuthType.GCE:
            raise ValueError("is not valid with GCE auth (the metadata server's identity is used)")
        return value


class AwsConfig(CamelModel):
    region: str = Field(min_length=1)
    credentials_path: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    endpoint: EndpointUrl | None = None


class AzureConfig(CamelModel):
    vault_url: EndpointUrl
    tenant_id: str | None = None
    client_id: str | None = None
    credentials_path: str | None = None


class GoogleConfig(CamelModel):
    project: str = Field(min_length=1)
    credentials_path: str | None = None
    endpoint: EndpointUrlOrHost | None = None


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
