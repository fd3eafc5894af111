"""What every request handler shares, stored once on the aiohttp application."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..k8s.client import JSON, KubeClient
from ..k8s.secrets import SecretStore
from .auth import Authenticator
from .cache import BackendCache
from .proxy import ProxyBackends


class CountingKubeClient(KubeClient):
    """A :class:`KubeClient` that counts its apiserver requests by method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: Counter[str] = Counter()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        self.requests[method] += 1
        return await super().request(
            method, path, body=body, params=params, content_type=content_type
        )

    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass
class ApiState:
    kube: CountingKubeClient
    cache: BackendCache
    auth: Authenticator
    proxy: ProxyBackends
    store: SecretStore
    default_namespace: str


STATE: web.AppKey[ApiState] = web.AppKey("scaivault_state", ApiState)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]
