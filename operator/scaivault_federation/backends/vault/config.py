"""``spec.config`` of a ``hashicorp-vault`` backend (no SDK here: the models and the
CRD are made from it).

Fields that belong to some auth methods only (:data:`METHOD_FIELDS`) are rejected
for the others, naming the field, here and by the CRD's rules
(:meth:`VaultConfig.crd_rules`); what a method needs beyond that (a role,
credentials keys) is checked when the backend is built.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from ...models.config import (
    BackendConfig,
    Container,
    CredentialsSecret,
    EndpointUrl,
    ScaiVaultPath,
    ServiceAccountLogin,
    ServiceAccountName,
)
from ..aws.config import KEYS as AWS_KEYS

NAME = "hashicorp-vault"


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
#: methods that log in with a ServiceAccount token of the backend's namespace
SERVICE_ACCOUNT_METHODS = frozenset({VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT})
#: the audience of their tokens when the config names none: what Vault's role binds
DEFAULT_AUDIENCE = "vault"
#: methods that need ``role``
ROLE_REQUIRED = (VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT, VaultAuthMethod.GCP)

#: config fields that only some auth methods take (every other field is common)
METHOD_FIELDS: dict[str, frozenset[VaultAuthMethod]] = {
    "auth_mount": _LOGIN_METHODS,
    "role": frozenset({*ROLE_REQUIRED, VaultAuthMethod.CERT, VaultAuthMethod.AWS}),
    "service_account": SERVICE_ACCOUNT_METHODS,
    "audience": SERVICE_ACCOUNT_METHODS,
    "sts_region": frozenset({VaultAuthMethod.AWS}),
    "iam_server_id_header": frozenset({VaultAuthMethod.AWS}),
    "gcp_auth_type": frozenset({VaultAuthMethod.GCP}),
}

GOOGLE_KEYS = ("credentials.json",)

#: the keys a Vault auth method needs in the ``authConfigPath`` Secret
AUTH_KEYS: dict[VaultAuthMethod, tuple[str, ...]] = {
    VaultAuthMethod.TOKEN: ("token",),
    VaultAuthMethod.APPROLE: ("role_id", "secret_id"),
    VaultAuthMethod.KUBERNETES: ("token",),
    VaultAuthMethod.JWT: ("jwt",),
    VaultAuthMethod.USERPASS: ("username", "password"),
    VaultAuthMethod.LDAP: ("username", "password"),
    VaultAuthMethod.CERT: ("tls.crt", "tls.key"),
    VaultAuthMethod.AWS: AWS_KEYS,
    VaultAuthMethod.GCP: GOOGLE_KEYS,
}


class VaultConfig(BackendConfig):
    """``spec.config`` of a ``hashicorp-vault`` backend."""

    endpoint: Annotated[EndpointUrl, Container()] = Field(description="the Vault server's URL")
    auth_method: VaultAuthMethod = Field(
        default=VaultAuthMethod.TOKEN,
        description="how the operator gets a Vault token: token (default), approle, "
        "kubernetes, jwt, userpass, ldap, cert, aws or gcp. Fields of other methods are "
        "rejected",
    )
    gcp_auth_type: GcpAuthType | None = Field(
        default=None,
        description="(gcp auth) iam (default: a JWT signed with the service-account key in "
        "the credentials) or gce (the GCE metadata server's instance identity)",
    )
    auth_config_path: Annotated[ScaiVaultPath, CredentialsSecret()] | None = Field(
        default=None,
        description="ScaiVault path of the credentials Secret (labelled "
        "federation.scaivault.io/credentials=true), holding: token (token), role_id and "
        "secret_id (approle), token (kubernetes), jwt (jwt), username and password "
        "(userpass, ldap), tls.crt and tls.key (cert), access_key_id, secret_access_key and "
        "optional session_token (aws), credentials.json (gcp with gcpAuthType iam). Absent: "
        "a ServiceAccount token (kubernetes, jwt) or the platform identity (aws, gcp)",
    )
    auth_mount: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="mount path of the auth method (default: the method's name); not for token",
    )
    role: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Vault role of the auth method; required for kubernetes, jwt and gcp, "
        "optional for cert and aws",
    )
    service_account: ServiceAccountName | None = Field(
        default=None,
        description="(kubernetes and jwt auth) the ServiceAccount in this namespace whose "
        "token logs in (default: default); its annotation "
        "federation.scaivault.io/token-for must name this backend (or be *)",
    )
    audience: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="(kubernetes and jwt auth) the audience of the requested ServiceAccount "
        "token (default: vault); never one of the apiserver's own",
    )
    sts_region: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="(aws auth) sign for the regional STS endpoint of this region (default: "
        "the global endpoint, us-east-1)",
    )
    iam_server_id_header: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="(aws auth) value of the signed X-Vault-AWS-IAM-Server-ID header",
    )
    namespace: Annotated[str, Container()] | None = Field(
        default=None, min_length=1, max_length=256, description="Vault Enterprise namespace"
    )
    tls_verify: bool = Field(
        default=True, description="verify the server certificate (default true)"
    )
    ca_cert_path: Annotated[ScaiVaultPath, CredentialsSecret(("ca.crt",))] | None = Field(
        default=None,
        description="ScaiVault path of a credentials Secret holding a CA bundle (ca.crt)",
    )
    kv_version: int | None = Field(
        default=None, ge=1, le=2, description="KV engine version; detected when absent"
    )

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

    @field_validator(*METHOD_FIELDS)
    @classmethod
    def _belongs_to_the_method(cls, value: object, info: ValidationInfo) -> object:
        method = info.data.get("auth_method")
        name = info.field_name
        if value is None or method is None or name is None:
            return value
        if method not in METHOD_FIELDS[name]:
            raise ValueError(f"is not valid with auth method {method.value!r}")
        return value

    @field_validator("auth_config_path")
    @classmethod
    def _credentials_wanted(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("gcp_auth_type") is GcpAuthType.GCE:
            raise ValueError("is not valid with GCE auth (the metadata server's identity is used)")
        return value

    def required_keys(self, field: str) -> tuple[str, ...]:
        if field == "auth_config_path":
            return AUTH_KEYS[self.auth_method]
        return super().required_keys(field)

    def credentials_user(self) -> str:
        return f"Vault {self.auth_method.value} auth"

    def ambient_identity(self) -> str | None:
        if self.auth_config_path is not None:
            return None
        if self.auth_method is VaultAuthMethod.AWS:
            return "the operator's AWS identity for Vault's aws login"
        if self.auth_method is VaultAuthMethod.GCP or self.gcp_auth_type is GcpAuthType.GCE:
            return "the operator's Google identity for Vault's gcp login"
        return None

    def service_account_login(self) -> ServiceAccountLogin | None:
        if self.auth_method not in SERVICE_ACCOUNT_METHODS:
            return None
        audience = self.audience or DEFAULT_AUDIENCE
        return ServiceAccountLogin(
            self.service_account, audience, self.auth_config_path is not None
        )

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        return [*_method_field_rules(), *_AUTH_RULES]


_METHOD = "(has(self.config.authMethod) ? self.config.authMethod : 'token (the default)')"


def _method_field_rules() -> list[dict[str, Any]]:
    """The CRD's twin of :meth:`VaultConfig._belongs_to_the_method`."""
    rules = []
    for name, methods in METHOD_FIELDS.items():
        key = VaultConfig.cr_name(name)
        if methods == _LOGIN_METHODS:
            allowed = "self.config.authMethod != 'token'"
        elif len(methods) == 1:
            allowed = f"self.config.authMethod == '{next(iter(methods)).value}'"
        else:
            listed = ", ".join(f"'{m.value}'" for m in VaultAuthMethod if m in methods)
            allowed = f"self.config.authMethod in [{listed}]"
        rules.append(
            {
                "rule": f"self.type != '{NAME}' || !has(self.config.{key}) "
                f"|| (has(self.config.authMethod) && {allowed})",
                "messageExpression": f"'spec.config.{key} is not valid when "
                f"spec.config.authMethod is ' + {_METHOD}",
                "fieldPath": f".config.{key}",
            }
        )
    return rules


_AUTH_RULES: list[dict[str, Any]] = [
    {
        "rule": f"self.type != '{NAME}' || !has(self.config.authConfigPath) "
        "|| !has(self.config.gcpAuthType) || self.config.gcpAuthType != 'gce'",
        "message": "spec.config.authConfigPath is not valid when spec.config.gcpAuthType is "
        "gce (the metadata server's identity is used)",
        "fieldPath": ".config.authConfigPath",
    },
    {
        "rule": f"self.type != '{NAME}' || (has(self.config.authMethod) "
        "&& self.config.authMethod in ['kubernetes', 'jwt', 'aws']) "
        "|| (has(self.config.authMethod) && self.config.authMethod == 'gcp' "
        "&& has(self.config.gcpAuthType) && self.config.gcpAuthType == 'gce') "
        "|| has(self.config.authConfigPath)",
        "messageExpression": "'spec.config.authConfigPath is required when "
        f"spec.config.authMethod is ' + {_METHOD}",
        "fieldPath": ".config.authConfigPath",
        "reason": "FieldValueRequired",
    },
    {
        "rule": f"self.type != '{NAME}' || !has(self.config.authMethod) "
        f"|| !(self.config.authMethod in [{', '.join(repr(m.value) for m in ROLE_REQUIRED)}]) "
        "|| has(self.config.role)",
        "messageExpression": "'spec.config.role is required when spec.config.authMethod is ' "
        "+ self.config.authMethod",
        "fieldPath": ".config.role",
        "reason": "FieldValueRequired",
    },
    {
        "rule": f"self.type != '{NAME}' || !has(self.config.authMethod) "
        "|| self.config.authMethod != 'cert' || !has(self.config.endpoint) "
        "|| self.config.endpoint.lowerAscii().startsWith('https://')",
        "message": "spec.config.endpoint must be an https URL when spec.config.authMethod is "
        "cert (the client certificate is sent in TLS)",
        "fieldPath": ".config.endpoint",
    },
]
