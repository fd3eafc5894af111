"""The life of one ClusterFederationBackend: a :class:`BackendWorker` (the same
schedule, backoff, ownership and reporting) whose sync is one :func:`run_sync`
per selected namespace, the backend client shared (each prefix listed and
each path read once per round, :mod:`.shared_reads`).

Its credentials are read in the operator's namespace (the worker's
``namespace``); its Secrets carry the owner key :func:`cluster_owner` (the
worker's ``name``), never a FederationBackend's name. A namespace that is no
longer selected has its Secrets released or deleted as ``deletionPolicy``
says, at the next sync, which a change of the selection starts at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..backends.base import SecretBackend
from ..labels import cluster_owner
from ..models.cluster import ClusterBackendResource, ClusterBackendSpec
from ..models.resource import FederationBackendResource
from ..models.spec import BackendSpec
from ..models.status import BackendStatus
from ..paths import PathScope
from .cluster_status import ClusterOutcome, after_cluster_sync
from .ports import NamespaceSource
from .report import Reporter
from .service import SyncContext, SyncOutcome, run_sync
from .shared_reads import SharedReads
from .teardown import teardown
from .worker import BackendWorker, OperatorDeps

log = logging.getLogger(__name__)


class ClusterReporter(Reporter):
    def after_sync(
        self,
        resource: FederationBackendResource,
        outcome: SyncOutcome,
        latency: float,
        now: datetime,
    ) -> BackendStatus:
        if not isinstance(resource, ClusterBackendResource) or not isinstance(
            outcome, ClusterOutcome
        ):
            return super().after_sync(resource, outcome, latency, now)
        return after_cluster_sync(
            resource.cluster_status,
            outcome,
            latency_ms=latency,
            now=now,
            generation=resource.generation,
            backend_id=resource.id,
        )


def selected_namespaces(spec: ClusterBackendSpec, namespaces: NamespaceSource) -> set[str]:
    return {name for name, labels in namespaces.labels().items() if spec.selects(labels)}


class ClusterBackendWorker(BackendWorker):
    def __init__(
        self,
        deps: OperatorDeps,
        namespaces: NamespaceSource,
        operator_namespace: str,
        name: str,
    ) -> None:
        super().__init__(deps, operator_namespace, cluster_owner(name))
        self.cluster_name = name
        self.namespaces = namespaces
        self.report = ClusterReporter(deps.statuses, deps.events)
        #: the namespaces synced into by the last sync (attached to the trigger router)
        self.targets: set[str] = set()

    async def step(self, resource: FederationBackendResource) -> None:
        if self.generation is None and not self.targets:
            # (re)started: the namespaces the status lists are ours until a sync says
            # otherwise, and a selection that moved meanwhile syncs at once
            for namespace in self.previous_namespaces(resource):
                self._attach(namespace)
            self.spec = resource.spec
            self.namespaces_changed()
        await super().step(resource)

    def namespaces_changed(self) -> None:
        """A namespace came, went or changed labels: sync at once if the selection moved."""
        spec = self.spec
        if isinstance(spec, ClusterBackendSpec) and (
            selected_namespaces(spec, self.namespaces) != self.targets
        ):
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
        assert isinstance(spec, ClusterBackendSpec)
        await self.namespaces.wait_listed()
        selected = selected_namespaces(spec, self.namespaces)
        known = self.targets | set(self.previous_namespaces(resource))
        previous = (
            resource.cluster_status.conflicts
            if isinstance(resource, ClusterBackendResource)
            else []
        )
        outcome = ClusterOutcome(paths=paths)
        shared = SharedReads(backend)
        for namespace in sorted(selected):
            self._attach(namespace)
            ctx = SyncContext(
                namespace,
                self.name,
                spec.in_namespace(namespace),
                shared,
                self.deps.secrets,
                self.deps.mac_key,
                paths=paths if namespace in known else None,
                previous_conflicts=[c for c in previous if c.namespace == namespace],
                refetch=self._target_changed(spec),
            )
            outcome.add(namespace, await run_sync(ctx))
        for namespace in sorted(known - selected):
            policy = spec.deletion_policy
            count = await teardown(self.deps.secrets, namespace, self.name, policy)
            self._detach(namespace)
            outcome.dropped[namespace] = count
            if count:
                log.info(
                    "%s: namespace %s no longer selected: %s %d Secret(s)",
                    self.cluster_name,
                    namespace,
                    policy.value,
                    count,
                )
        return outcome

    def record_namespaces(self) -> list[tuple[str | None, str]]:
        return [(namespace, namespace) for namespace in sorted(self.targets)]

    @staticmethod
    def previous_namespaces(resource: FederationBackendResource) -> list[str]:
        if not isinstance(resource, ClusterBackendResource):
            return []
        return [n.name for n in resource.cluster_status.namespaces]

    def detach_all(self) -> None:
        for namespace in list(self.targets):
            self._detach(namespace)

    def _attach(self, namespace: str) -> None:
        self.targets.add(namespace)
        if self.deps.router is not None:
            self.deps.router.attach((namespace, self.name), self)

    def _detach(self, namespace: str) -> None:
        self.targets.discard(namespace)
        # the operator's namespace's key also carries the credentials: the daemon owns it
        if self.deps.router is not None and namespace != self.namespace:
            self.deps.router.detach((namespace, self.name), self)
