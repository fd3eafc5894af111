"""The kopf handlers: a few lines each, over the kopf-free sync package.

kopf runs the operator: startup (where the FederationBackend watch feeding
:class:`..sync.fleet.Fleet` starts), login, the liveness probe and cleanup.
FederationBackends themselves have no kopf handler (see :mod:`..sync.fleet`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import secrets
from typing import Any

import kopf

from ..backends.bound_tokens import BoundTokens
from ..backends.credentials import connect
from ..k8s.backend_store import BackendStore, backend_collections
from ..k8s.client import KubeClient
from ..k8s.config import Credentials, KubeConnection
from ..k8s.events import EventRecorder
from ..k8s.leases import LeaseStore
from ..k8s.namespace_index import NamespaceIndex
from ..k8s.namespaces import NamespaceReader
from ..k8s.reflector import Reflector
from ..k8s.secret_cache import MANAGED_SELECTOR, ManagedSecretCache
from ..k8s.secrets import SecretStore
from ..k8s.tokens import ServiceAccountStore
from ..k8s.watchers import SecretNameWatch, secret_collections
from ..k8s.workloads import WorkloadStore
from ..labels import FINALIZER, GROUP
from ..settings import Settings
from ..sync.cluster_worker import ClusterBackendWorker
from ..sync.fleet import Fleet
from ..sync.membership import Membership
from ..sync.triggers import TriggerRouter
from ..sync.worker import OperatorDeps

log = logging.getLogger(__name__)

#: our handlers, and no others: a plain registry has none of kopf's fallback logins
#: (which would log in a second time, through whatever client library is installed)
REGISTRY = kopf.OperatorRegistry()

#: how long kopf keeps an idle per-object worker (and its slot of ``worker_limit``)
WORKER_IDLE_SECONDS = 0.5


@kopf.on.startup(registry=REGISTRY)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours: Settings = memo.settings
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.queueing.worker_limit = ours.operator.worker_limit
    # A per-object worker keeps its slot until its object has been quiet this long:
    # with kopf's 5 s, 64 slots let no more than ~13 new backends a second even start.
    settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
    settings.watching.server_timeout = 300
    connection: KubeConnection = memo.connection  # loaded by the runner, before kopf
    client = KubeClient(
        connection, write_qps=ours.kube.write_qps, write_burst=ours.kube.write_burst
    )
    cache = ManagedSecretCache()
    store = SecretStore(client, cache)
    namespace = ours.backends.operator_namespace or connection.default_namespace
    mac_key = await store.load_or_create_mac_key(namespace)
    router = TriggerRouter(mac_key)
    cache.listen(router.managed_changed)
    memo.client, memo.tasks = client, []
    memo.cluster_workers = {}

    def wake_all() -> None:
        fleet: Fleet | None = getattr(memo, "fleet", None)
        running = list(fleet.workers.values()) if fleet is not None else []
        for worker in [*running, *memo.cluster_workers.values()]:
            worker.ownership_changed()

    owns = _owns_everything
    if not ours.operator.standalone:
        identity = ours.operator.replica_id or f"operator-{secrets.token_hex(3)}"
        membership = Membership(
            LeaseStore(client),
            namespace=namespace,
            group=ours.operator.peering,
            identity=f"{identity}-{secrets.token_hex(3)}",
            duration=ours.operator.lease_duration_seconds,
            sharded=ours.operator.sharding,
            on_change=wake_all,
        )
        owns = membership.owns
        memo.tasks.append(asyncio.create_task(membership.run(), name="membership"))
    names = SecretNameWatch(router.secret_changed)
    for path in secret_collections(ours.operator.watch_namespaces):
        memo.tasks.append(
            asyncio.create_task(names.reflector(client, path).run(), name=f"secret-names {path}")
        )
        memo.tasks.append(
            asyncio.create_task(_managed(client, path, cache).run(), name=f"managed-secrets {path}")
        )
    memo.operator_namespace = namespace
    if not ours.operator.watch_namespaces:  # cluster-wide: ClusterFederationBackends are served
        index = NamespaceIndex()
        index.listen(functools.partial(_namespaces_changed, memo.cluster_workers))
        memo.namespaces = index
        memo.tasks.append(asyncio.create_task(index.reflector(client).run(), name="namespaces"))
    backends = BackendStore(client)
    memo.deps = OperatorDeps(
        secrets=store,
        statuses=backends,
        events=EventRecorder(client),
        connect=functools.partial(
            connect,
            secrets=store,
            tokens=BoundTokens(ServiceAccountStore(client), ours.backends.protected_accounts),
            environment=ours.backends.environment(namespace),
            namespaces=NamespaceReader(client)
            if ours.backends.ambient_identity_namespace_selector
            else None,
        ),
        mac_key=mac_key,
        sync_slots=asyncio.Semaphore(ours.operator.max_concurrent_syncs),
        max_backoff=ours.operator.max_backoff_seconds,
        router=router,
        owns=owns,
        workloads=WorkloadStore(client),
        finalizers=backends,
    )
    # FederationBackends are watched here, not by kopf: a sleeping backend then costs
    # its worker alone (see sync/fleet.py)
    memo.fleet = fleet = Fleet(memo.deps)
    for path in backend_collections(ours.operator.watch_namespaces):
        memo.tasks.append(
            asyncio.create_task(Reflector(client, path, fleet).run(), name=f"backends {path}")
        )


@kopf.on.login(registry=REGISTRY)
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials: those of the connection our own client uses (loaded at
    startup), so the two logins are one.

    kopf asks again when the ``expiration`` we gave passes (an exec credential is
    then fetched again), or earlier when the apiserver refused what it has (a 401):
    then the connection loads everything again."""
    return await login_info(memo)


async def login_info(memo: kopf.Memo) -> kopf.ConnectionInfo:
    """What :func:`login` hands kopf (remembered in ``memo``, to tell a refusal)."""
    connection: KubeConnection = memo.connection
    handed: tuple[Credentials, dt.datetime | None] | None = getattr(memo, "login_handed", None)
    credentials = await connection.current()
    if handed is not None and credentials.same_login(handed[0]):
        expiration = handed[1]
        if expiration is None or connection.now() < expiration:
            credentials = await connection.refresh(stale=credentials)
    info = connection_info(credentials, connection.default_namespace, connection.expiration)
    memo.login_handed = (credentials, info.expiration)
    return info


def connection_info(
    credentials: Credentials, default_namespace: str, expiration: dt.datetime | None
) -> kopf.ConnectionInfo:
    scheme, token = credentials.scheme_and_token()
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=credentials.ca_file,
        insecure=not credentials.verify,
        scheme=scheme,
        token=token,
        certificate_path=credentials.cert_file,
        private_key_path=credentials.key_file,
        default_namespace=default_namespace,
        expiration=expiration,
    )


def _namespaces_changed(workers: dict[str, ClusterBackendWorker]) -> None:
    for worker in list(workers.values()):
        worker.namespaces_changed()


def _owns_everything(uid: str) -> bool:
    return True


def _managed(client: KubeClient, path: str, cache: ManagedSecretCache) -> Reflector:
    return Reflector(client, path, cache, label_selector=MANAGED_SELECTOR)


@kopf.on.cleanup(registry=REGISTRY)
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in getattr(memo, "tasks", []):  # no new events reach the fleet
        task.cancel()
    fleet: Fleet | None = getattr(memo, "fleet", None)
    if fleet is not None:
        await fleet.stop()
    for task in getattr(memo, "tasks", []):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    client: KubeClient | None = getattr(memo, "client", None)
    if client is not None:
        await client.close()


@kopf.on.probe(id="backends", registry=REGISTRY)
def probe(memo: kopf.Memo, **_: Any) -> bool:
    return getattr(memo, "deps", None) is not None
