"""What every request handler shares, stored once on the aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..backends.factory import BackendEnvironment
from ..k8s.backend_store import BackendStore
from ..k8s.cluster_backend_store import ClusterBackendStore
from ..k8s.secrets import SecretStore
from .auth import Authenticator
from .cache import BackendCache
from .notify.service import Notifications
from .proxy import ProxyBackends


@dataclass
class ApiState:
    backends: BackendStore
    cache: BackendCache
    auth: Authenticator
    proxy: ProxyBackends
    store: SecretStore
    environment: BackendEnvironment
    default_namespace: str
    notifications: Notifications = field(default_factory=Notifications)
    #: ClusterFederationBackends, when this API serves them (a cluster-wide operator's)
    cluster_backends: ClusterBackendStore | None = None


STATE: web.AppKey[ApiState] = web.AppKey("scaivault_state", ApiState)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]
