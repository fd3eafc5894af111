"""The running workers: one task per backend, of either kind, started by the first
watch event of its CR and ended once the CR's deletion is done or it is gone.

The fleet is fed by a list + watch of each kind's CRs (:meth:`Fleet.feed`, a
:class:`..k8s.reflector.ReflectorHandler` per kind). A task and a worker are
all a backend costs while it sleeps: the CR as parsed once, no raw body, no
per-object machinery of an operator framework. The kind decides the worker
(:class:`..models.kind.Placement`: its own namespace, or each namespace its
selector selects), where its credentials are read and the owner key its
Secrets carry; everything else is the same for both kinds: the worker adds
the operator's finalizer and, when the CR is deleted, tears its Secrets down
and removes it (:meth:`..worker.BackendWorker.run`), on the one replica that
acts on it (:mod:`.membership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..k8s.client import JSON
from ..k8s.reflector import parse_each
from ..labels import FINALIZER
from ..models.kind import BackendKind, Placement
from ..models.resource import FederationBackendResource
from .metrics import forget_backend
from .selected_namespaces import SelectedNamespacesWorker
from .worker import BackendWorker, OperatorDeps

log = logging.getLogger(__name__)

#: a CR's namespace ("" for a cluster-scoped one) and name
WorkerKey = tuple[str, str]

#: the worker of each placement
WORKERS: dict[Placement, type[BackendWorker]] = {
    Placement.OWN_NAMESPACE: BackendWorker,
    Placement.SELECTED_NAMESPACES: SelectedNamespacesWorker,
}

#: how long a worker that ended with an unexpected error waits before it runs again
RESTART_DELAY = 10.0
#: how long :meth:`Fleet.stop` waits for the workers to close their clients
STOP_TIMEOUT = 10.0


class Fleet:
    def __init__(
        self,
        deps: OperatorDeps,
        operator_namespace: str = "",
        restart_delay: float = RESTART_DELAY,
    ) -> None:
        self.deps = deps
        #: where backends of a kind without a namespace read their credentials
        self.operator_namespace = operator_namespace
        self.workers: dict[WorkerKey, BackendWorker] = {}
        self._tasks: dict[WorkerKey, asyncio.Task[None]] = {}
        self._scopes: dict[WorkerKey, str] = {}  # the collection each CR was listed in
        self._restart_delay = restart_delay

    def __len__(self) -> int:
        return len(self.workers)

    def feed(self, kind: BackendKind) -> KindFeed:
        """The handler of the list + watch of ``kind``'s CRs."""
        return KindFeed(self, kind)

    def observe(self, resource: FederationBackendResource) -> None:
        """The CR as a watch event shows it: its worker wakes on it, or starts."""
        key = (resource.namespace, resource.name)
        worker = self.workers.get(key)
        if worker is not None:
            worker.observe(resource)
            return
        if resource.deleting and FINALIZER not in resource.metadata.finalizers:
            return  # on its way out, and nothing waits for us
        kind = resource.kind
        home = kind.home(resource.namespace, self.operator_namespace)
        worker = WORKERS[kind.placement](self.deps, home, resource.owner)
        self.workers[key] = worker
        worker.attach()
        worker.observe(resource)
        self._tasks[key] = asyncio.create_task(
            self._run(key, worker), name=f"backend {resource.qualified_name}"
        )

    def ownership_changed(self) -> None:
        """The live replicas changed: every worker looks again at whether it acts."""
        for worker in list(self.workers.values()):
            worker.ownership_changed()

    def namespaces_changed(self) -> None:
        """A namespace came, went or was relabelled: workers that select some look again."""
        for worker in list(self.workers.values()):
            worker.namespaces_changed()

    def replaced(self, scope: str, listed: list[FederationBackendResource]) -> None:
        """A full listing of ``scope``: its CRs now (workers of others there stop)."""
        present = {(r.namespace, r.name) for r in listed}
        for key, where in list(self._scopes.items()):
            if where == scope and key not in present:
                self.forget(*key)
        for resource in listed:
            self._scopes[(resource.namespace, resource.name)] = scope
            self.observe(resource)

    def changed(self, scope: str, event_type: str, resource: FederationBackendResource) -> None:
        if event_type == "DELETED":
            self.forget(resource.namespace, resource.name)
            return
        self._scopes[(resource.namespace, resource.name)] = scope
        self.observe(resource)

    def forget(self, namespace: str, name: str) -> None:
        """The CR is gone: its worker stops (and closes its client), and its metric
        series go with it."""
        key = (namespace, name)
        forget_backend(namespace, name)
        self._scopes.pop(key, None)
        worker, task = self.workers.pop(key, None), self._tasks.pop(key, None)
        if worker is not None:
            forget_backend(worker.namespace, worker.name)
            worker.detach()  # a CR made again gets a worker of its own
        if task is not None:
            task.cancel()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every worker; each closes its client (revoking a login) on the way."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _run(self, key: WorkerKey, worker: BackendWorker) -> None:
        try:
            while True:
                try:
                    await worker.run()  # on the CR observed last
                    return  # its deletion is done
                except Exception as exc:  # a defect: keep the backend served, say so
                    log.error(
                        "%s/%s: the worker stopped on %s; starting it again in %.0f s",
                        *key,
                        type(exc).__name__,
                        self._restart_delay,
                    )
                    await asyncio.sleep(self._restart_delay)
        finally:
            worker.detach()
            if self.workers.get(key) is worker:
                del self.workers[key]
            with contextlib.suppress(KeyError):
                if self._tasks[key] is asyncio.current_task():
                    del self._tasks[key]


class KindFeed:
    """One kind's list + watch, parsed with the kind's models, into the fleet."""

    def __init__(self, fleet: Fleet, kind: BackendKind) -> None:
        self.fleet = fleet
        self.kind = kind

    def parse(self, obj: JSON) -> FederationBackendResource:
        return FederationBackendResource.from_object(obj, self.kind)

    def replaced(self, scope: str, items: list[JSON]) -> None:
        self.fleet.replaced(scope, parse_each(scope, items, self.parse))

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        self.fleet.changed(scope, event_type, self.parse(obj))
