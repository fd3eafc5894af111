"""Backend type -> factory.

Each backend module registers its factory at import time; importing
:mod:`scaivault_federation.backends` imports the built-in ones. A factory
validates the typed config and the credentials, and returns a client that has
not yet made any network call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..models.config import CONFIG_MODELS, BackendConfig, BackendType
from .allowlist import check_endpoints
from .base import Credentials, SecretBackend
from .errors import InvalidBackendConfigError

BackendFactory = Callable[[BackendConfig, Credentials], Awaitable[SecretBackend]]

_FACTORIES: dict[BackendType, BackendFactory] = {}


def register(backend_type: BackendType) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator registering ``factory`` for ``backend_type`` (the last registration wins)."""

    def decorator(factory: BackendFactory) -> BackendFactory:
        _FACTORIES[backend_type] = factory
        return factory

    return decorator


def registered_types() -> frozenset[BackendType]:
    return frozenset(_FACTORIES)


async def create_backend(
    backend_type: BackendType, config: BackendConfig, credentials: Credentials
) -> SecretBackend:
    """A client for ``backend_type``; ``InvalidBackendConfigError`` when none can be made."""
    factory = _FACTORIES.get(backend_type)
    if factory is None:
        raise InvalidBackendConfigError(f"no backend is available for type {str(backend_type)!r}")
    expected = CONFIG_MODELS.get(backend_type)
    if expected is None or not isinstance(config, expected):
        raise InvalidBackendConfigError(
            f"config of type {type(config).__name__} does not match backend type "
            f"{str(backend_type)!r}"
        )
    check_endpoints(config)
    return await factory(config, credentials)
