"""What a namespace's backends may use of the operator: its own cloud identity, and
which remote paths and containers.

**Ambient identity.** A backend whose config names no credentials Secret runs
with the operator pod's own identity (AWS default chain / IRSA and any
``roleArn`` assumed from it, Azure workload or managed identity, Google ADC,
Vault's ``aws`` and ``gcp`` logins without keys). Whoever may create a
FederationBackend could read whatever that identity can. So it is allowed
only in namespaces the operator's settings name (the operator's own always;
more by list or by a namespace label selector), and only towards the cloud's
own endpoints (:data:`CLOUD_HOSTS`) or hosts the ``ambient_identity_endpoints``
setting names (a private endpoint, or a Vault the operator's identity may log
in to); elsewhere the backend is ``InvalidConfig`` before any backend call. A
config that names a credentials Secret never falls back to this identity: the
Secret must hold the keys (:mod:`.credential_secrets`).

**Remote prefixes.** Settings may limit, per namespace and backend type, the
remote path prefixes a namespace's mappings may reach, and the containers
those paths live in (:data:`CONTAINER_FIELDS`: Vault's endpoint and namespace,
AWS's region and role, Azure's vault, Google's project), by host-style
patterns per field.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..models.config import (
    AwsConfig,
    AzureConfig,
    BackendConfig,
    GcpAuthType,
    GoogleConfig,
    VaultAuthMethod,
    VaultConfig,
)
from ..models.endpoint import Endpoint
from ..models.spec import BackendSpec
from .allowlist import endpoint_of, is_allowed
from .errors import InvalidBackendConfigError

#: the key of ``remote_prefixes`` that applies to namespaces without their own entry
ANY_NAMESPACE = "*"

#: the host suffixes of each cloud's own endpoints, where its identity may be sent
CLOUD_HOSTS: dict[type[BackendConfig], tuple[str, ...]] = {
    AwsConfig: (".amazonaws.com", ".amazonaws.com.cn", ".api.aws"),
    GoogleConfig: (".googleapis.com",),
    AzureConfig: (
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".vault.microsoftazure.de",
        ".managedhsm.azure.net",
    ),
}

#: backend type -> the config fields (CR spelling) that say which container holds its
#: paths, which ``remote_containers`` may limit per namespace
CONTAINER_FIELDS: dict[str, dict[str, str]] = {
    "hashicorp-vault": {"endpoint": "endpoint", "namespace": "namespace"},
    "aws-secrets-manager": {"region": "region", "roleArn": "role_arn", "endpoint": "endpoint"},
    "azure-key-vault": {"vaultUrl": "vault_url"},
    "google-secret-manager": {"project": "project", "endpoint": "endpoint"},
}


class NamespaceLabels(Protocol):
    async def labels(self, namespace: str) -> Mapping[str, str] | None:
        """The namespace's labels; ``None`` when it cannot be read."""
        ...


@dataclass(frozen=True)
class TenancyPolicy:
    operator_namespace: str = ""
    #: more namespaces whose backends may use the operator's own identity
    ambient_namespaces: frozenset[str] = frozenset()
    #: or those whose labels match all of these
    ambient_selector: Mapping[str, str] = field(default_factory=dict)
    #: namespace (or ``*``) -> backend type -> remote path prefixes its mappings may use
    remote_prefixes: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    #: namespace (or ``*``) -> backend type -> container field -> patterns its value must match
    remote_containers: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]] = field(
        default_factory=dict
    )
    #: host patterns, besides the clouds' own, that may receive the operator's identity
    ambient_endpoints: tuple[str, ...] = ()


def parse_selector(raw: str | None) -> dict[str, str]:
    """``key=value,key2=value2`` (equality only)."""
    selector: dict[str, str] = {}
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part.strip()!r} is not key=value")
        selector[key.strip()] = value.strip()
    return selector


def ambient_identity_use(config: BackendConfig) -> str | None:
    """How the config would use the operator's own identity, or ``None``."""
    if isinstance(config, AwsConfig) and config.credentials_path is None:
        role = " (and the roleArn assumed from it)" if config.role_arn else ""
        return f"the operator's AWS identity{role}"
    if isinstance(config, AzureConfig) and config.credentials_path is None:
        return "the operator's Azure workload or managed identity"
    if isinstance(config, GoogleConfig) and config.credentials_path is None:
        return "the operator's Google identity (ADC)"
    if isinstance(config, VaultConfig) and config.auth_config_path is None:
        if config.auth_method is VaultAuthMethod.AWS:
            return "the operator's AWS identity for Vault's aws login"
        if config.auth_method is VaultAuthMethod.GCP or config.gcp_auth_type is GcpAuthType.GCE:
            return "the operator's Google identity for Vault's gcp login"
    return None


async def check_tenancy(
    spec: BackendSpec,
    namespace: str,
    policy: TenancyPolicy,
    namespaces: NamespaceLabels | None = None,
) -> None:
    """Raise :class:`InvalidBackendConfigError` for what ``namespace`` may not use."""
    use = ambient_identity_use(spec.config)
    if use is not None:
        if not await _ambient_allowed(namespace, policy, namespaces):
            raise InvalidBackendConfigError(
                f"the backend has no credentials Secret, so it would run with {use}, which "
                f"namespace {namespace!r} may not use; give it a credentials Secret "
                "(credentialsPath / authConfigPath), or allow the namespace in the operator's "
                "ambient_identity_namespaces or ambient_identity_namespace_selector setting"
            )
        check_ambient_endpoint(spec.config, use, policy.ambient_endpoints)
    check_containers(spec, namespace, policy)
    prefixes = _for_namespace(policy.remote_prefixes, namespace).get(spec.type.value)
    if prefixes is None:
        return
    for mapping in spec.mappings:
        remote = mapping.remote.literal_prefix
        if not any(remote.startswith(p) for p in prefixes):
            raise InvalidBackendConfigError(
                f"pathMapping {mapping.local.pattern!r}: remote path {mapping.remote.pattern!r} is "
                f"outside the prefixes namespace {namespace!r} may map for {spec.type.value} "
                f"({', '.join(prefixes) or 'none'})"
            )


def _for_namespace(table: Mapping[str, Mapping[str, object]], namespace: str) -> Mapping[str, Any]:
    return table.get(namespace, table.get(ANY_NAMESPACE)) or {}


def check_ambient_endpoint(config: BackendConfig, use: str, patterns: Sequence[str]) -> None:
    """The operator's identity goes to the cloud's own endpoints, or to one the
    ``ambient_identity_endpoints`` setting names; never to any other."""
    azure = isinstance(config, AzureConfig)
    field_name = "vaultUrl" if azure else "endpoint"
    endpoint = endpoint_of(config, "vault_url" if azure else "endpoint")
    if endpoint is None:
        return  # the SDK's own endpoint of the cloud
    if isinstance(config, GoogleConfig) and _plaintext_loopback(endpoint):
        return  # an emulator: the client sends it no identity at all
    suffixes = CLOUD_HOSTS.get(type(config), ())
    if endpoint.host.endswith(suffixes) or (patterns and is_allowed(endpoint, patterns)):
        return
    raise InvalidBackendConfigError(
        f"config.{field_name} host {endpoint.host!r} is not an endpoint of the cloud itself, "
        "and the backend would send it "
        f"{use}; name a credentials Secret, or add the host to the "
        "operator's ambient_identity_endpoints setting"
    )


def _plaintext_loopback(endpoint: Endpoint) -> bool:
    """A Google endpoint the client reaches in plaintext, anonymously (see the google package's auth)."""
    if endpoint.scheme == "https":
        return False
    address = endpoint.address
    loopback = endpoint.host == "localhost" or (address is not None and address.is_loopback)
    return loopback and endpoint.scheme in ("http", "")


def check_containers(spec: BackendSpec, namespace: str, policy: TenancyPolicy) -> None:
    """Each limited container field must match one of the namespace's patterns (an unset
    field counts as empty, so a limit on it requires it)."""
    limits = _for_namespace(policy.remote_containers, namespace).get(spec.type.value)
    if not limits:
        return
    fields = CONTAINER_FIELDS.get(spec.type.value, {})
    for name, patterns in limits.items():
        attribute = fields.get(name)
        if attribute is None:
            continue
        value = str(getattr(spec.config, attribute, None) or "")
        if not any(fnmatch.fnmatchcase(value, p) for p in patterns):
            raise InvalidBackendConfigError(
                f"config.{name} {value!r} is outside what namespace {namespace!r} may use "
                f"for {spec.type.value} ({', '.join(patterns) or 'none'})"
            )


async def _ambient_allowed(
    namespace: str, policy: TenancyPolicy, namespaces: NamespaceLabels | None
) -> bool:
    if namespace == policy.operator_namespace or namespace in policy.ambient_namespaces:
        return True
    if not policy.ambient_selector or namespaces is None:
        return False
    labels = await namespaces.labels(namespace)
    if labels is None:
        return False
    return all(labels.get(k) == v for k, v in policy.ambient_selector.items())
