"""The credentials a backend logs in with, gathered from the CR's own namespace.

The config's ``*Path`` values name Secrets in the CR's namespace (never
another); each must opt in and hold the keys its field needs
(:mod:`.credential_secrets`), and their keys are merged into one
:class:`Credentials`. A config that names none runs with the operator's own
identity, where the tenancy policy allows it (:mod:`.tenancy`). Vault's
kubernetes and jwt auth without a credentials Secret get a short-lived
ServiceAccount token on demand (:mod:`.bound_tokens`). What reads Secrets and
issues tokens is passed in (the Kubernetes stores satisfy both protocols), so
this module does no I/O of its own.
"""

from __future__ import annotations

from typing import Protocol

from ..models.config import VaultAuthMethod, VaultConfig
from ..models.secret import LocalSecret
from ..models.spec import BackendSpec
from ..paths import secret_name_for_path
from .allowlist import check_resolved
from .base import Credentials, SecretBackend
from .credential_secrets import accept, check_keys
from .errors import InvalidBackendConfigError
from .registry import BackendEnvironment, create_backend
from .tenancy import NamespaceLabels, ambient_identity_use, check_tenancy

#: the config fields that name a credentials Secret
CREDENTIAL_FIELDS = ("auth_config_path", "credentials_path", "ca_cert_path")


class SecretReader(Protocol):
    async def get(self, namespace: str, name: str) -> LocalSecret | None: ...


class TokenIssuer(Protocol):
    async def issue(
        self, namespace: str, service_account: str, audience: str | None, backend: str
    ) -> str:
        """A short-lived token of the ServiceAccount for ``backend`` (its owner key);
        ``InvalidBackendConfigError`` when none may be had."""
        ...


#: Vault auth methods that may log in with a ServiceAccount token of the CR's namespace
SERVICE_ACCOUNT_AUTH = (VaultAuthMethod.KUBERNETES, VaultAuthMethod.JWT)
#: the ServiceAccount those methods use when the config names none
DEFAULT_SERVICE_ACCOUNT = "default"


async def read_credentials_secret(
    secrets: SecretReader, namespace: str, path: str, field: str
) -> LocalSecret:
    """The Secret a ``*Path`` value names, in ``namespace`` only, if it may be read as
    credentials."""
    name = secret_name_for_path(path)
    found = await secrets.get(namespace, name)
    if found is None:
        raise InvalidBackendConfigError(
            f"credentials Secret {name!r} (path {path!r}) not found in namespace {namespace!r}"
        )
    accept(found, field, path)
    if found.path is not None and found.path != path:
        raise InvalidBackendConfigError(f"Secret {name!r} holds path {found.path!r}, not {path!r}")
    return found


async def load_credentials(
    secrets: SecretReader,
    tokens: TokenIssuer,
    namespace: str,
    spec: BackendSpec,
    backend: str,
) -> Credentials:
    """Merge the Secrets the config's ``*Path`` fields name (same namespace only), each
    checked for the keys it must hold."""
    values: dict[str, bytes] = {}
    config = spec.config
    for attr in CREDENTIAL_FIELDS:
        path = getattr(config, attr, None)
        if path is not None:
            found = await read_credentials_secret(secrets, namespace, path, attr)
            check_keys(config, attr, path, found.name, found.data)
            values.update(found.data)
    ambient = ambient_identity_use(config) is not None
    if (
        isinstance(config, VaultConfig)
        and config.auth_method in SERVICE_ACCOUNT_AUTH
        and config.auth_config_path is None
    ):
        account, audience = config.service_account or DEFAULT_SERVICE_ACCOUNT, config.audience

        async def token() -> str:
            return await tokens.issue(namespace, account, audience, backend)

        return Credentials(values, service_account_token=token)
    return Credentials(values, ambient=ambient)


async def connect(
    spec: BackendSpec,
    namespace: str,
    backend: str,
    *,
    secrets: SecretReader,
    tokens: TokenIssuer,
    environment: BackendEnvironment,
    namespaces: NamespaceLabels | None = None,
) -> SecretBackend:
    """A client of the backend ``spec`` describes, logged in with its namespace's
    credentials (``backend``: its owner key, which ServiceAccounts name to opt in to
    tokens); no network call to the backend is made yet. What the namespace
    may not use (an endpoint, the operator's own identity, a remote prefix) is
    refused first, before any credential is read."""
    await check_resolved(spec.config, environment.allowed_endpoints, environment.resolver)
    await check_tenancy(spec, namespace, environment.tenancy, namespaces)
    credentials = await load_credentials(secrets, tokens, namespace, spec, backend)
    return await create_backend(spec.type, spec.config, credentials, environment)
