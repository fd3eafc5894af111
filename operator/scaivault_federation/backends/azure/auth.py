"""Which Entra ID credential an Azure Key Vault backend uses, and building it.

- ``serviceAccount`` in the config: the application that ServiceAccount names,
  with its token as the client assertion (keyless: :mod:`.keyless`).
- ``client_secret`` in the credentials Secret (``credentialsPath``): a service
  principal, ``ClientSecretCredential`` with ``tenantId`` and ``clientId`` from
  the config (both required then).
- no client secret and ``AZURE_FEDERATED_TOKEN_FILE`` in the operator's
  environment (AKS workload identity injects it with ``AZURE_CLIENT_ID``,
  ``AZURE_TENANT_ID`` and ``AZURE_AUTHORITY_HOST``): ``WorkloadIdentityCredential``;
  ``tenantId``/``clientId`` in the config override the injected ones.
- otherwise a managed identity, ``ManagedIdentityCredential``: user-assigned
  when ``clientId`` is set, system-assigned when not.

The last two are the operator's own identity: only for a config that names no
credentials Secret, in a namespace allowed it (``Credentials.ambient``).

``DefaultAzureCredential`` is deliberately not used: its chain (CLI, shared
caches, ...) makes the identity depend on the machine the operator runs on.

``AZURE_AUTHORITY_HOST`` (when set) names the Entra ID authority for the first
three kinds, as in ``azure-identity``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..base import Credentials
from ..errors import InvalidBackendConfigError
from ..workload_identity import WorkloadIdentity
from .config import CLIENT_ANNOTATION, TENANT_ANNOTATION, AzureConfig

CredentialKind = Literal[
    "service_account", "client_secret", "workload_identity", "managed_identity"
]

CLIENT_SECRET_KEY = "client_secret"
AUTHORITY_ENV = "AZURE_AUTHORITY_HOST"
FEDERATED_TOKEN_ENV = "AZURE_FEDERATED_TOKEN_FILE"
TENANT_ENV = "AZURE_TENANT_ID"
CLIENT_ENV = "AZURE_CLIENT_ID"


@dataclass(frozen=True)
class CredentialChoice:
    """The kind of credential and the identity it acts as (no secret material)."""

    kind: CredentialKind
    tenant_id: str | None = None
    client_id: str | None = None
    authority: str | None = None
    token_file: str | None = None


def choose_credential(
    config: AzureConfig, credentials: Credentials, env: Mapping[str, str] | None = None
) -> CredentialChoice:
    """Decide the credential from the config, the credentials Secret and the environment."""
    env = {} if env is None else env
    authority = env.get(AUTHORITY_ENV) or None
    if credentials.workload_identity is not None:
        return _keyless(credentials.workload_identity, config, env, authority)
    if credentials.get(CLIENT_SECRET_KEY) is not None:
        credentials.require_text(CLIENT_SECRET_KEY)  # present but empty: a config error
        if not config.tenant_id or not config.client_id:
            raise InvalidBackendConfigError(
                "a client secret needs 'tenantId' and 'clientId' in the config"
            )
        return CredentialChoice("client_secret", config.tenant_id, config.client_id, authority)
    if config.credentials_path is not None or not credentials.ambient:
        raise credentials.no_static((CLIENT_SECRET_KEY,), "Azure Key Vault")
    token_file = env.get(FEDERATED_TOKEN_ENV)
    if token_file:
        tenant = config.tenant_id or env.get(TENANT_ENV)
        client = config.client_id or env.get(CLIENT_ENV)
        if not tenant or not client:
            raise InvalidBackendConfigError(
                "workload identity needs a tenant and a client ID "
                f"('tenantId'/'clientId' or {TENANT_ENV}/{CLIENT_ENV})"
            )
        return CredentialChoice("workload_identity", tenant, client, authority, token_file)
    return CredentialChoice("managed_identity", client_id=config.client_id)


def _keyless(
    identity: WorkloadIdentity, config: AzureConfig, env: Mapping[str, str], authority: str | None
) -> CredentialChoice:
    """The application the ServiceAccount names, in the tenant it names (or the config's,
    or the operator's)."""
    tenant = identity.annotations.get(TENANT_ANNOTATION) or config.tenant_id or env.get(TENANT_ENV)
    if not tenant:
        raise InvalidBackendConfigError(
            f"config.serviceAccount: {identity.who} names no tenant; annotate it "
            f"{TENANT_ANNOTATION}, or set tenantId"
        )
    client = identity.annotations[CLIENT_ANNOTATION]
    return CredentialChoice("service_account", tenant, client, authority)


def build_credential(choice: CredentialChoice, credentials: Credentials, **transport: Any) -> Any:
    """An ``azure.identity.aio`` credential for ``choice``; ``transport`` holds pipeline
    settings (``connection_verify``, timeouts, retries). Makes no network call."""
    from azure.identity.aio import (
        ClientSecretCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    from .keyless import FederatedCredential

    extra = dict(transport)
    if choice.authority:
        extra["authority"] = choice.authority
    if choice.kind == "service_account":
        identity = credentials.workload_identity
        assert identity is not None and choice.tenant_id and choice.client_id
        return FederatedCredential(identity, choice.tenant_id, choice.client_id, **extra)
    try:
        if choice.kind == "client_secret":
            assert choice.tenant_id and choice.client_id
            return ClientSecretCredential(
                choice.tenant_id,
                choice.client_id,
                credentials.require_text(CLIENT_SECRET_KEY),
                **extra,
            )
        if choice.kind == "workload_identity":
            return WorkloadIdentityCredential(
                tenant_id=choice.tenant_id,
                client_id=choice.client_id,
                token_file_path=choice.token_file,
                **extra,
            )
        extra.pop("authority", None)
        if choice.client_id:
            return ManagedIdentityCredential(client_id=choice.client_id, **extra)
        return ManagedIdentityCredential(**extra)
    except ValueError as error:  # e.g. a malformed tenant ID or authority
        raise InvalidBackendConfigError(
            f"cannot build the {choice.kind.replace('_', ' ')} credential ({type(error).__name__})"
        ) from None
