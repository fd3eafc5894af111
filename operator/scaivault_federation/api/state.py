"""What every request handler shares, stored once on the aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..backends.factory import BackendEnvironment
from ..k8s.backend_store import BackendStores
from ..k8s.leased_listing import LeasedListing
from ..k8s.secrets import SecretStore
from .auth import Authenticator
from .cache import BackendCache
from .notify.service import Notifications
from .proxy import ProxyBackends
from .sync_requests import SyncRequests


@dataclass
class ApiState:
    #: the store of each kind of backend served (ClusterFederationBackends only beside
    #: a cluster-wide operator)
    stores: BackendStores
    cache: BackendCache
    auth: Authenticator
    proxy: ProxyBackends
    store: SecretStore
    environment: BackendEnvironment
    default_namespace: str
    #: FederationLeases and FederationCertificates, read on request
    leased: LeasedListing
    notifications: Notifications = field(default_factory=Notifications)
    #: manual-sync requests on their way to Kubernetes, one write per backend at a time
    sync_requests: SyncRequests = field(default_factory=SyncRequests)


STATE: web.AppKey[ApiState] = web.AppKey("scaivault_state", ApiState)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]
