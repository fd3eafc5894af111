"""The operator's services: the watches that feed the fleet of workers, and what the
workers share, built in one place.

:meth:`Controller.open` builds on :class:`..services.Services` (the client and
the stores) the MAC key, the trigger router, the Lease membership (unless
standalone) and the :class:`..sync.fleet.Fleet`; :meth:`Controller.start`
starts the list + watch of each kind of backend it serves into the fleet,
of the Secrets that wake workers, of the managed Secrets' cache, of
namespaces (for ClusterFederationBackends' selectors) and the membership;
:meth:`Controller.stop` stops them, then the workers (each closes its
client), then the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

from .k8s.config import KubeConnection
from .k8s.events import EventRecorder
from .k8s.leased_store import LeasedStore
from .k8s.leases import LeaseStore
from .k8s.namespace_index import NamespaceIndex
from .k8s.reflector import Reflector
from .k8s.secret_cache import MANAGED_SELECTOR, ManagedSecretCache
from .k8s.watchers import SecretNameWatch, secret_collections
from .k8s.workloads import WorkloadStore
from .labels import CERTIFICATE_KIND, LEASE_KIND
from .leasing.runtime import LeasingRuntime
from .leasing.worker import LeasingDeps
from .models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND
from .services import Services, operator_kinds
from .settings import Settings
from .sync.fleet import Fleet
from .sync.membership import Membership
from .sync.ports import NamespaceSource, NoNamespaces
from .sync.triggers import TriggerRouter
from .sync.worker import OperatorDeps

log = logging.getLogger(__name__)


class Controller:
    def __init__(self, services: Services, mac_key: bytes, cache: ManagedSecretCache) -> None:
        settings, client = services.settings, services.client
        self.services = services
        self.cache = cache
        self.router = TriggerRouter(mac_key)
        cache.listen(self.router.managed_changed)
        #: the cluster's namespaces, when ClusterFederationBackends are served
        self.namespaces: NamespaceIndex | None = None
        if services.stores.serves(CLUSTER_FEDERATION_BACKEND):
            self.namespaces = NamespaceIndex()
            self.namespaces.listen(self._namespaces_changed)
        self.membership: Membership | None = None
        if not settings.operator.standalone:
            identity = settings.operator.replica_id or f"operator-{secrets.token_hex(3)}"
            self.membership = Membership(
                LeaseStore(client),
                namespace=services.home,
                group=settings.operator.peering,
                identity=f"{identity}-{secrets.token_hex(3)}",
                duration=settings.operator.lease_duration_seconds,
                sharded=settings.operator.sharding,
                on_change=self._ownership_changed,
            )
        namespaces: NamespaceSource = self.namespaces or NoNamespaces()
        self.deps = OperatorDeps(
            secrets=services.secrets,
            statuses=services.stores,
            events=EventRecorder(client),
            connect=services.connect,
            mac_key=mac_key,
            sync_slots=asyncio.Semaphore(settings.operator.max_concurrent_syncs),
            max_backoff=settings.operator.max_backoff_seconds,
            router=self.router,
            workloads=WorkloadStore(client),
            finalizers=services.stores,
            namespaces=namespaces,
            owns=self.membership.owns if self.membership is not None else _owns_everything,
        )
        self.fleet = Fleet(self.deps, services.home)
        backends = services.stores[FEDERATION_BACKEND]
        self.leasing = LeasingRuntime(
            LeasingDeps(
                store=LeasedStore(client),
                backend=backends.get,
                connect=services.connect,
                events={
                    kind: EventRecorder(client, kind) for kind in (LEASE_KIND, CERTIFICATE_KIND)
                },
                workloads=self.deps.workloads,
                owns=self.deps.owns,
            )
        )
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, settings: Settings, connection: KubeConnection) -> Controller:
        """The operator's services over ``connection`` (the MAC key read, or made once)."""
        cache = ManagedSecretCache()
        services = Services.build(settings, connection, operator_kinds(settings), cache)
        try:
            mac_key = await services.secrets.load_or_create_mac_key(services.home)
        except BaseException:
            await services.close()
            raise
        return cls(services, mac_key, cache)

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start every watch (and the membership); the fleet's workers start on the
        first event of their CR."""
        settings, client = self.services.settings, self.services.client
        if self.membership is not None:
            self._spawn(self.membership.run(), "membership")
        if self.namespaces is not None:
            self._spawn(self.namespaces.reflector(client).run(), "namespaces")
        names = SecretNameWatch(self.router.secret_changed)
        for path in secret_collections(settings.operator.watch_namespaces):
            self._spawn(names.reflector(client, path).run(), f"secret-names {path}")
            managed = Reflector(client, path, self.cache, label_selector=MANAGED_SELECTOR)
            self._spawn(managed.run(), f"managed-secrets {path}")
        for store in self.services.stores:
            feed = self.fleet.feed(store.kind)
            for reflector in store.reflectors(feed, settings.operator.watch_namespaces):
                self._spawn(reflector.run(), f"backends {reflector.path}")
        for reflector in self.leasing.reflectors(settings.operator.watch_namespaces):
            self._spawn(reflector.run(), f"leasing {reflector.path}")

    async def stop(self) -> None:
        """Stop the watches (no new events reach the fleet), the workers (each revokes
        its login and closes its client), the membership (its Lease deleted), the client."""
        for task in self._tasks:
            task.cancel()
        await self.fleet.stop()
        await self.leasing.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.services.close()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    def _ownership_changed(self) -> None:
        self.fleet.ownership_changed()
        self.leasing.ownership_changed()

    def _namespaces_changed(self) -> None:
        self.fleet.namespaces_changed()


def _owns_everything(uid: str) -> bool:
    return True
