"""The credentials a backend logs in with, gathered from the CR's own namespace.

The config's credentials fields (:class:`~..models.config.CredentialsSecret`)
name Secrets in the CR's namespace (never another) by path; each must opt in
and hold the keys its field needs (:mod:`.credential_secrets`), and their keys
are merged into one :class:`Credentials`. A config that names none runs with
the operator's own identity, where the tenancy policy allows it
(:mod:`.tenancy`). A login with a ServiceAccount token without a credentials
Secret holding one gets a short-lived token on
demand (:mod:`.bound_tokens`), and a keyless login the checked account whose
tokens it exchanges at the cloud (:mod:`.workload_identity`). What reads Secrets and
issues tokens is passed in (the Kubernetes stores satisfy both protocols), so
this module does no I/O of its own.
"""

from __future__ import annotations

from typing import Protocol

from ..models.config import WorkloadIdentityLogin
from ..models.secret import LocalSecret
from ..models.spec import BackendSpec
from ..paths import secret_name_for_path
from .allowlist import check_resolved
from .base import Credentials, SecretBackend
from .credential_secrets import accept, check_keys
from .errors import InvalidBackendConfigError
from .factory import BackendEnvironment, create_backend
from .tenancy import NamespaceLabels, check_tenancy
from .workload_identity import WorkloadIdentity


class SecretReader(Protocol):
    async def get(self, namespace: str, name: str) -> LocalSecret | None: ...


class TokenIssuer(Protocol):
    async def issue(self, namespace: str, service_account: str, audience: str, backend: str) -> str:
        """A short-lived token of the ServiceAccount for ``backend`` (its owner key);
        ``InvalidBackendConfigError`` when none may be had."""
        ...

    async def workload_identity(
        self, namespace: str, login: WorkloadIdentityLogin, backend: str
    ) -> WorkloadIdentity:
        """The account a keyless login of ``backend`` exchanges tokens of, checked;
        ``InvalidBackendConfigError`` when it may not."""
        ...


#: the ServiceAccount a login with a ServiceAccount token uses when the config names none
DEFAULT_SERVICE_ACCOUNT = "default"


async def read_credentials_secret(
    secrets: SecretReader, namespace: str, path: str, field: str
) -> LocalSecret:
    """The Secret a credentials field (``field``, as the CR spells it) names by ``path``,
    in ``namespace`` only, if it may be read as credentials."""
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
    """Merge the Secrets the config's credentials fields name (same namespace only), each
    checked for the keys it must hold."""
    values: dict[str, bytes] = {}
    config = spec.config
    for attr, path in config.credentials_paths().items():
        found = await read_credentials_secret(secrets, namespace, path, config.cr_name(attr))
        check_keys(config, attr, path, found.name, found.data)
        values.update(found.data)
    keyless = config.workload_identity()
    if keyless is not None:
        identity = await tokens.workload_identity(namespace, keyless, backend)
        return Credentials(values, workload_identity=identity)
    ambient = config.ambient_identity() is not None
    login = config.service_account_login()
    if login is not None and not login.token_in_secret:
        account, audience = login.account or DEFAULT_SERVICE_ACCOUNT, login.audience

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
