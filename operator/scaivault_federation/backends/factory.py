"""Making a client of a backend type: the type's client module is imported on first
use (:mod:`.registry`). A factory validates the typed config and the
credentials, and returns a client that has not yet made any network call."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from ..models.config import BackendConfig
from .allowlist import Resolver, check_endpoints
from .base import Credentials, SecretBackend
from .errors import InvalidBackendConfigError
from .registry import BY_NAME
from .tenancy import TenancyPolicy

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class BackendEnvironment:
    """What the operator's settings give every backend client."""

    #: host patterns a config's endpoint must match (empty: any endpoint)
    allowed_endpoints: tuple[str, ...] = ()
    #: what namespaces may use of the operator (its own identity, remote prefixes)
    tenancy: TenancyPolicy = field(default_factory=TenancyPolicy)
    #: looks endpoint host names up before connecting (None: no lookup)
    resolver: Resolver | None = None
    #: the operator's settings, of which each type reads its own part
    settings: BaseModel | None = None

    def settings_of(self, model: type[S]) -> S:
        """A type's part of the operator's settings (its defaults when none were given)."""
        return self.settings if isinstance(self.settings, model) else model()


BackendFactory = Callable[
    [BackendConfig, Credentials, BackendEnvironment], Awaitable[SecretBackend]
]


def factory_for(backend_type: str) -> BackendFactory:
    """The ``create`` of the type's client module, imported on first use."""
    module = importlib.import_module(BY_NAME[backend_type].client)
    factory: BackendFactory = module.create
    return factory


async def create_backend(
    backend_type: str,
    config: BackendConfig,
    credentials: Credentials,
    environment: BackendEnvironment | None = None,
) -> SecretBackend:
    """A client for ``backend_type``; ``InvalidBackendConfigError`` when none can be made."""
    environment = environment or BackendEnvironment()
    declared = BY_NAME.get(backend_type)
    if declared is None or not isinstance(config, declared.config):
        raise InvalidBackendConfigError(
            f"config of type {type(config).__name__} does not match backend type {backend_type!r}"
        )
    check_endpoints(config, environment.allowed_endpoints)
    return await factory_for(backend_type)(config, credentials, environment)
