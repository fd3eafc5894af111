"""What the operator and the API both run on, built in one place from the settings.

:class:`Services` holds the process's one Kubernetes client (over the
connection the kubeconfig or the pod's ServiceAccount gives), the stores of
the backend kinds it serves and of Secrets, and what a backend client is
made of (the operator's environment, ServiceAccount tokens, namespace
labels for the tenancy policy). The operator (:mod:`.controller`) and the
API (:mod:`.api.server`) each build theirs on top; nothing is wired twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .backends.base import SecretBackend
from .backends.bound_tokens import BoundTokens
from .backends.credentials import connect
from .backends.factory import BackendEnvironment
from .k8s.backend_store import BackendStores
from .k8s.client import KubeClient
from .k8s.config import KubeConnection, load_connection
from .k8s.namespaces import NamespaceReader
from .k8s.secret_cache import ManagedSecretCache
from .k8s.secrets import SecretStore
from .k8s.tokens import ServiceAccountStore
from .models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND, BackendKind
from .models.spec import BackendSpec
from .settings import Settings

#: makes a logged-in client for a spec, with the credentials of a namespace, for the
#: backend of an owner key
Connector = Callable[[BackendSpec, str, str], Awaitable[SecretBackend]]


def operator_kinds(settings: Settings) -> tuple[BackendKind, ...]:
    """The kinds the operator acts on: ClusterFederationBackends need a cluster-wide one
    (they write into any namespace)."""
    if settings.operator.watch_namespaces:
        return (FEDERATION_BACKEND,)
    return (FEDERATION_BACKEND, CLUSTER_FEDERATION_BACKEND)


def api_kinds(settings: Settings) -> tuple[BackendKind, ...]:
    """The kinds the API serves (cluster backends only beside a cluster-wide operator)."""
    if settings.api.cluster_backends:
        return (FEDERATION_BACKEND, CLUSTER_FEDERATION_BACKEND)
    return (FEDERATION_BACKEND,)


def connection_of(settings: Settings) -> KubeConnection:
    """The Kubernetes connection of the settings. Blocks while an exec plugin runs: call
    it in a thread from async code."""
    return load_connection(
        settings.kube.config,
        context=settings.kube.context,
        service_host=settings.kube.service_host,
        service_port=settings.kube.service_port,
    )


@dataclass
class Services:
    settings: Settings
    connection: KubeConnection
    client: KubeClient
    #: the operator's namespace: its MAC key, cluster backends' credentials
    home: str
    stores: BackendStores
    secrets: SecretStore
    environment: BackendEnvironment
    tokens: BoundTokens
    #: namespaces' labels, read when the tenancy policy selects namespaces by label
    namespace_labels: NamespaceReader | None

    @classmethod
    def build(
        cls,
        settings: Settings,
        connection: KubeConnection,
        kinds: tuple[BackendKind, ...],
        secret_cache: ManagedSecretCache | None = None,
    ) -> Services:
        """The services over ``connection`` for the backend ``kinds`` served; Secret reads
        answered from ``secret_cache`` where it holds them."""
        client = KubeClient(
            connection, write_qps=settings.kube.write_qps, write_burst=settings.kube.write_burst
        )
        home = settings.backends.operator_namespace or connection.default_namespace
        return cls(
            settings=settings,
            connection=connection,
            client=client,
            home=home,
            stores=BackendStores(client, kinds),
            secrets=SecretStore(client, secret_cache),
            environment=settings.backends.environment(home),
            tokens=BoundTokens(ServiceAccountStore(client), settings.backends.protected_accounts),
            namespace_labels=NamespaceReader(client)
            if settings.backends.ambient_identity_namespace_selector
            else None,
        )

    @property
    def connect(self) -> Connector:
        """A logged-in client of a backend (see :func:`.backends.credentials.connect`)."""
        return functools.partial(
            connect,
            secrets=self.secrets,
            tokens=self.tokens,
            environment=self.environment,
            namespaces=self.namespace_labels,
        )

    async def close(self) -> None:
        await self.client.close()
