"""The credentials a backend logs in with, gathered from the CR's own namespace.

The config's ``*Path`` values name Secrets in the CR's namespace (never
another); their keys are merged into one :class:`Credentials`. Vault's
kubernetes auth without a ``token`` key gets a short-lived ServiceAccount
token on demand. What reads Secrets and issues tokens is passed in (the
Kubernetes stores satisfy both protocols), so this module does no I/O of its own.
"""

from __future__ import annotations

from typing import Protocol

from ..models.config import VaultAuthMethod, VaultConfig
from ..models.secret import LocalSecret
from ..models.spec import BackendSpec
from ..paths import secret_name_for_path
from .allowlist import check_resolved
from .base import Credentials, SecretBackend
from .errors import InvalidBackendConfigError
from .registry import BackendEnvironment, create_backend
from .tenancy import NamespaceLabels, check_tenancy

#: the config fields that name a credentials Secret
CREDENTIAL_FIELDS = ("auth_config_path", "credentials_path", "ca_cert_path")


class SecretReader(Protocol):
    async def get(self, namespace: str, name: str) -> LocalSecret | None: ...


class TokenIssuer(Protocol):
    async def issue(
        self, namespace: str, service_account: str, audience: str | None = None
    ) -> str | None:
        """A short-lived token of the ServiceAccount (for ``audience`` when given);
        ``None`` when it does not exist."""
        ...


#: Vault auth methods that may log in with a ServiceAccount token of the CR's namespace
SERVICE_ACCOUNT_AUTH = (VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT)


async def read_credentials_secret(
    secrets: SecretReader, namespace: str, path: str
) -> dict[str, bytes]:
    """The data of the Secret a ``*Path`` value names, in ``namespace`` only."""
    name = secret_name_for_path(path)
    found = await secrets.get(namespace, name)
    if found is None:
        raise InvalidBackendConfigError(
            f"credentials Secret {name!r} (path {path!r}) not found in namespace {namespace!r}"
        )
    if found.path is not None and found.path != path:
        raise InvalidBackendConfigError(f"Secret {name!r} holds path {found.path!r}, not {path!r}")
    return dict(found.data)


async def load_credentials(
    secrets: SecretReader, tokens: TokenIssuer, namespace: str, spec: BackendSpec
) -> Credentials:
    """Merge the Secrets the config's ``*Path`` fields name (same namespace only)."""
    values: dict[str, bytes] = {}
    for attr in CREDENTIAL_FIELDS:
        path = getattr(spec.config, attr, None)
        if path is not None:
            values.update(await read_credentials_secret(secrets, namespace, path))
    config = spec.config
    if isinstance(config, VaultConfig) and config.auth_method in SERVICE_ACCOUNT_AUTH:
        account, audience = config.service_account or "default", config.audience

        async def token() -> str:
            issued = await tokens.issue(namespace, account, audience)
            if issued is None:
                raise InvalidBackendConfigError(
                    f"ServiceAccount {account!r} not found in namespace {namespace!r}"
                )
            return issued

        return Credentials(values, service_account_token=token)
    return Credentials(values)


async def connect(
    spec: BackendSpec,
    namespace: str,
    secrets: SecretReader,
    tokens: TokenIssuer,
    environment: BackendEnvironment,
    namespaces: NamespaceLabels | None = None,
) -> SecretBackend:
    """A client of the backend ``spec`` describes, logged in with its namespace's
    credentials; no network call to the backend is made yet. What the namespace
    may not use (an endpoint, the operator's own identity, a remote prefix) is
    refused first, before any credential is read."""
    await check_resolved(spec.config, environment.allowed_endpoints, environment.resolver)
    await check_tenancy(spec, namespace, environment.tenancy, namespaces)
    credentials = await load_credentials(secrets, tokens, namespace, spec)
    return await create_backend(spec.type, spec.config, credentials, environment)
