"""What a namespace's backends may use of the operator: its own cloud identity, and
which remote paths and containers.

**Ambient identity.** A backend whose config names no credentials Secret may run
with the operator pod's own identity (each type's config says when:
:meth:`~..models.config.BackendConfig.ambient_identity`; a cloud's default
chain, workload or managed identity, a login signed with it). Whoever may
create a FederationBackend could read whatever that identity can. So it is
allowed only in namespaces the operator's settings name (the operator's own
always; more by list or by a namespace label selector), and only towards the
cloud's own endpoints (the config model's ``cloud_hosts``) or hosts the
``ambient_identity_endpoints`` setting names (a private endpoint, or a server the
operator's identity may log in to); elsewhere the backend is ``InvalidConfig``
before any backend call. A config that names a credentials Secret never falls
back to this identity: the Secret must hold the keys
(:mod:`.credential_secrets`).

**Remote prefixes.** Settings may limit, per namespace and backend type, the
remote path prefixes a namespace's mappings may reach, and the containers
those paths live in (the config fields marked
:class:`~..models.config.Container`), by host-style patterns per field.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..models.config import BackendConfig, EndpointField
from ..models.spec import BackendSpec
from .allowlist import endpoint_of, is_allowed
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


async def check_tenancy(
    spec: BackendSpec,
    namespace: str,
    policy: TenancyPolicy,
    namespaces: NamespaceLabels | None = None,
) -> None:
    """Raise :class:`InvalidBackendConfigError` for what ``namespace`` may not use."""
    use = spec.config.ambient_identity()
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
    prefixes = _for_namespace(policy.remote_prefixes, namespace).get(spec.type)
    if prefixes is None:
        return
    for mapping in spec.mappings:
        remote = mapping.remote.literal_prefix
        if not any(remote.startswith(p) for p in prefixes):
            raise InvalidBackendConfigError(
                f"pathMapping {mapping.local.pattern!r}: remote path {mapping.remote.pattern!r} is "
                f"outside the prefixes namespace {namespace!r} may map for {spec.type} "
                f"({', '.join(prefixes) or 'none'})"
            )


def _for_namespace(table: Mapping[str, Mapping[str, object]], namespace: str) -> Mapping[str, Any]:
    return table.get(namespace, table.get(ANY_NAMESPACE)) or {}


def check_ambient_endpoint(config: BackendConfig, use: str, patterns: Sequence[str]) -> None:
    """The operator's identity goes to the cloud's own endpoints, or to one the
    ``ambient_identity_endpoints`` setting names; never to any other."""
    for name in config.marked(EndpointField):
        endpoint = endpoint_of(config, name)
        if endpoint is None or not config.sends_identity_to(endpoint):
            continue  # the SDK's own endpoint of the cloud, or one that gets no identity
        if endpoint.host.endswith(config.cloud_hosts) or (
            patterns and is_allowed(endpoint, patterns)
        ):
            continue
        raise InvalidBackendConfigError(
            f"config.{config.cr_name(name)} host {endpoint.host!r} is not an endpoint of the "
            f"cloud itself, and the backend would send it {use}; name a credentials Secret, "
            "or add the host to the operator's ambient_identity_endpoints setting"
        )


def check_containers(spec: BackendSpec, namespace: str, policy: TenancyPolicy) -> None:
    """Each limited container field must match one of the namespace's patterns (an unset
    field counts as empty, so a limit on it requires it)."""
    limits = _for_namespace(policy.remote_containers, namespace).get(spec.type)
    if not limits:
        return
    fields = spec.config.container_fields()
    for name, patterns in limits.items():
        attribute = fields.get(name)
        if attribute is None:
            continue
        value = str(getattr(spec.config, attribute, None) or "")
        if not any(fnmatch.fnmatchcase(value, p) for p in patterns):
            raise InvalidBackendConfigError(
                f"config.{name} {value!r} is outside what namespace {namespace!r} may use "
                f"for {spec.type} ({', '.join(patterns) or 'none'})"
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
