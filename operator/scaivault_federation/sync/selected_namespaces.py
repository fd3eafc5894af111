"""The life of a backend that syncs into each namespace a selector selects (a
ClusterFederationBackend): a :class:`BackendWorker` (the same schedule,
backoff, ownership, finalizer and reporting) whose sync is one
:func:`run_sync` per selected namespace, the backend client shared (each
prefix listed and each path read once per round, :mod:`.shared_reads`).

Its credentials are read in the operator's namespace (the worker's
``namespace``); its Secrets carry its owner key (the worker's ``name``,
:meth:`..models.kind.BackendKind.owner`), never a FederationBackend's name. A
namespace that is no longer selected has its Secrets released or deleted as
``deletionPolicy`` says, at the next sync, which a change of the selection
starts at once; deleting the backend does the same in every namespace it
wrote into.
"""

from __future__ import annotations

import logging

from ..backends.base import SecretBackend
from ..models.cluster import cluster_spec, cluster_status
from ..models.resource import FederationBackendResource
from ..models.spec import BackendSpec
from ..paths import PathScope
from .cluster_status import after_cluster_sync
from .report import Reporter
from .service import SyncOutcome
from .shared_reads import SharedReads
from .teardown import teardown
from .worker import BackendWorker, OperatorDeps

log = logging.getLogger(__name__)


class SelectedNamespacesWorker(BackendWorker):
    def __init__(self, deps: OperatorDeps, namespace: str, name: str) -> None:
        super().__init__(deps, namespace, name)
        self.report = Reporter(deps.statuses, deps.events, after_cluster_sync)
        #: the namespaces synced into by the last sync (attached to the trigger router)
        self.targets: set[str] = set()

    def selected(self, spec: BackendSpec | None) -> set[str]:
        """The namespaces ``spec``'s selector selects now (none for an invalid spec)."""
        selector = cluster_spec(spec)
        if selector is None:
            return set()
        labels = self.deps.namespaces.labels()
        return {name for name, found in labels.items() if selector.selects(found)}

    def resumed(self, resource: FederationBackendResource) -> None:
        """(Re)started acting on it: the namespaces the status lists are ours until a
        sync says otherwise, and a selection that moved meanwhile syncs at once."""
        for namespace in self.previous_namespaces(resource):
            self._attach(namespace)
        self.namespaces_changed()

    def namespaces_changed(self) -> None:
        """A namespace came, went or changed labels: sync at once if the selection moved."""
        if self.spec is not None and self.selected(self.spec) != self.targets:
            self.trigger()

    async def sync(
        self,
        resource: FederationBackendResource,
        spec: BackendSpec,
        backend: SecretBackend,
        paths: PathScope | None = None,
    ) -> SyncOutcome:
        """Every selected namespace in turn; with ``paths``, only those in each namespace
        synced before (one newly selected syncs whole)."""
        await self.deps.namespaces.wait_listed()
        selected = self.selected(spec)
        known = self.targets | set(self.previous_namespaces(resource))
        previous = cluster_status(resource.status).conflicts
        outcome = SyncOutcome(paths=paths)
        shared = SharedReads(backend)
        for namespace in sorted(selected):
            self._attach(namespace)
            scope = paths if namespace in known else None
            conflicts = [c for c in previous if c.namespace == namespace]
            outcome.add(namespace, await self.sync_into(namespace, spec, shared, scope, conflicts))
        for namespace in sorted(known - selected):
            policy = spec.deletion_policy
            count = await teardown(self.deps.secrets, namespace, self.name, policy)
            self._detach(namespace)
            outcome.dropped[namespace] = count
            if count:
                log.info(
                    "%s: namespace %s no longer selected: %s %d Secret(s)",
                    resource.name,
                    namespace,
                    policy.value,
                    count,
                )
        return outcome

    def record_namespaces(self) -> list[tuple[str | None, str]]:
        return [(namespace, namespace) for namespace in sorted(self.targets)]

    async def written_namespaces(self, resource: FederationBackendResource) -> list[str]:
        """Those the status lists, those synced since, and those selected now."""
        namespaces = set(self.previous_namespaces(resource)) | self.targets
        if resource.spec is not None:
            await self.deps.namespaces.wait_listed()
            namespaces |= self.selected(resource.spec)
        return sorted(namespaces)

    @staticmethod
    def previous_namespaces(resource: FederationBackendResource) -> list[str]:
        return [n.name for n in cluster_status(resource.status).namespaces]

    def detach(self) -> None:
        for namespace in list(self.targets):
            self._detach(namespace)
        super().detach()

    def _attach(self, namespace: str) -> None:
        self.targets.add(namespace)
        if self.deps.router is not None:
            self.deps.router.attach((namespace, self.name), self)

    def _detach(self, namespace: str) -> None:
        self.targets.discard(namespace)
        # the operator's namespace's key also carries the credentials: detach() drops it
        if self.deps.router is not None and namespace != self.namespace:
            self.deps.router.detach((namespace, self.name), self)
