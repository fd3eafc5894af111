"""What a namespace's backends may use of the operator: its own cloud identity, and
which remote paths.

**Ambient identity.** A backend without a credentials Secret runs with the
operator pod's own identity (AWS default chain / IRSA and any ``roleArn``
assumed from it, Azure workload or managed identity, Google ADC, Vault's
``aws`` and ``gcp`` logins without keys). Whoever may create a
FederationBackend could read whatever that identity can. So it is allowed
only in namespaces the operator's settings name (the operator's own always;
more by list or by a namespace label selector); elsewhere the backend is
``InvalidConfig`` before any backend call.

**Remote prefixes.** Settings may limit, per namespace and backend type, the
remote path prefixes a namespace's mappings may reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..models.config import (
    AwsConfig,
    AzureConfig,
    BackendConfig,
    GcpAuthType,
    GoogleConfig,
    VaultAuthMethod,
    VaultConfig,
)
from ..models.spec import BackendSpec
from .errors import InvalidBackendConfigError

#: the key of ``remote_prefixes`` that applies to namespaces without their own entry
ANY_NAMESPACE = "*"


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
    if use is not None and not await _ambient_allowed(namespace, policy, namespaces):
        raise InvalidBackendConfigError(
            f"the backend has no credentials Secret, so it would run with {use}, which "
            f"namespace {namespace!r} may not use; give it a credentials Secret "
            "(credentialsPath / authConfigPath), or allow the namespace in the operator's "
            "ambient_identity_namespaces or ambient_identity_namespace_selector setting"
        )
    allowed = policy.remote_prefixes.get(namespace, policy.remote_prefixes.get(ANY_NAMESPACE))
    if allowed is None:
        return
    prefixes = allowed.get(spec.type.value)
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
