"""What every request handler shares, stored once on the aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..k8s.client import KubeClient
from ..k8s.secrets import SecretStore
from .auth import Authenticator
from .cache import BackendCache
from .proxy import ProxyBackends


@dataclass
class ApiState:
    kube: KubeClient
    cache: BackendCache
    auth: Authenticator
    proxy: ProxyBackends
    store: SecretStore
    default_namespace: str


STATE: web.AppKey[ApiState] = web.AppKey("scaivault_state", ApiState)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]
