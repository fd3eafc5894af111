"""Backend type -> factory, loaded on first use.

Each backend module registers its factory with :func:`register` when it is
imported; :func:`create_backend` imports the module of a type the first time
that type is asked for, so a process that never talks to Azure never
imports the Azure SDK. A factory validates the typed config and the
credentials, and returns a client that has not yet made any network call.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..models.config import CONFIG_MODELS, BackendConfig, BackendType
from .allowlist import Resolver, check_endpoints
from .base import Credentials, SecretBackend
from .errors import InvalidBackendConfigError
from .tenancy import TenancyPolicy


@dataclass(frozen=True)
class BackendEnvironment:
    """What the operator's settings give every backend client."""

    #: host patterns a config's endpoint must match (empty: any endpoint)
    allowed_endpoints: tuple[str, ...] = ()
    #: a PEM bundle the Azure client trusts instead of the system's
    azure_ca_bundle: Path | None = None
    #: the Azure identity variables of the operator's own environment
    #: (``AZURE_AUTHORITY_HOST``, ``AZURE_FEDERATED_TOKEN_FILE``, …)
    azure_identity: Mapping[str, str] = field(default_factory=dict)
    #: what namespaces may use of the operator (its own identity, remote prefixes)
    tenancy: TenancyPolicy = field(default_factory=TenancyPolicy)
    #: looks endpoint host names up before connecting (None: no lookup)
    resolver: Resolver | None = None


BackendFactory = Callable[
    [BackendConfig, Credentials, BackendEnvironment], Awaitable[SecretBackend]
]

#: the module that registers each built-in type
BUILT_IN: dict[BackendType, str] = {
    BackendType.HASHICORP_VAULT: f"{__package__}.vault.backend",
    BackendType.AWS_SECRETS_MANAGER: f"{__package__}.aws.backend",
    BackendType.AZURE_KEY_VAULT: f"{__package__}.azure.backend",
    BackendType.GOOGLE_SECRET_MANAGER: f"{__package__}.google.backend",
}

_FACTORIES: dict[BackendType, BackendFactory] = {}


def register(backend_type: BackendType) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator registering ``factory`` for ``backend_type`` (the last registration wins)."""

    def decorator(factory: BackendFactory) -> BackendFactory:
        _FACTORIES[backend_type] = factory
        return factory

    return decorator


def registered_types() -> frozenset[BackendType]:
    """The types a backend can be made for: the built-in ones and any registered."""
    return frozenset(_FACTORIES) | frozenset(BUILT_IN)


def factory_for(backend_type: BackendType) -> BackendFactory | None:
    if backend_type not in _FACTORIES and backend_type in BUILT_IN:
        importlib.import_module(BUILT_IN[backend_type])
    return _FACTORIES.get(backend_type)


async def create_backend(
    backend_type: BackendType,
    config: BackendConfig,
    credentials: Credentials,
    environment: BackendEnvironment | None = None,
) -> SecretBackend:
    """A client for ``backend_type``; ``InvalidBackendConfigError`` when none can be made."""
    environment = environment or BackendEnvironment()
    expected = CONFIG_MODELS.get(backend_type)
    if expected is None or not isinstance(config, expected):
        raise InvalidBackendConfigError(
            f"config of type {type(config).__name__} does not match backend type "
            f"{str(backend_type)!r}"
        )
    check_endpoints(config, environment.allowed_endpoints)
    factory = factory_for(backend_type)
    if factory is None:
        raise InvalidBackendConfigError(f"no backend is available for type {str(backend_type)!r}")
    return await factory(config, credentials, environment)
