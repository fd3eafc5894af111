"""The kopf handlers of ClusterFederationBackends (registered only when the operator
runs cluster-wide): a daemon per CR running a :class:`ClusterBackendWorker` over
the shared dependencies :mod:`.operator` set up."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import kopf

from ..k8s.cluster_backend_store import ClusterBackendStore
from ..labels import CLUSTER_PLURAL, GROUP, VERSION, cluster_owner
from ..models.cluster import ClusterBackendResource
from ..models.spec import DeletionPolicy
from ..sync.cluster_worker import ClusterBackendWorker, selected_namespaces
from ..sync.metrics import forget_backend
from ..sync.teardown import teardown
from ..sync.worker import OperatorDeps
from .operator import REGISTRY

log = logging.getLogger(__name__)


@kopf.daemon(GROUP, VERSION, CLUSTER_PLURAL, cancellation_timeout=10.0, registry=REGISTRY)
async def cluster_backend_daemon(name: str, body: kopf.Body, memo: Any, **_: Any) -> None:
    deps: OperatorDeps = dataclasses.replace(memo.deps, statuses=ClusterBackendStore(memo.client))
    worker = ClusterBackendWorker(deps, memo.namespaces, memo.operator_namespace, name)
    workers: dict[str, ClusterBackendWorker] = memo.cluster_workers
    workers[name] = worker
    key = (worker.namespace, worker.name)
    if deps.router is not None:
        deps.router.attach(key, worker)
    try:
        await worker.run(ClusterBackendResource.from_object(body))
    finally:
        worker.detach_all()
        if deps.router is not None:
            deps.router.detach(key, worker)
        if workers.get(name) is worker:
            del workers[name]


@kopf.on.event(GROUP, VERSION, CLUSTER_PLURAL, registry=REGISTRY)
async def cluster_backend_changed(name: str, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Every watch event hands the live object to its worker (which wakes on it)."""
    worker = getattr(memo, "cluster_workers", {}).get(name)
    if worker is not None:
        worker.observe(ClusterBackendResource.from_object(body))


@kopf.on.delete(GROUP, VERSION, CLUSTER_PLURAL, registry=REGISTRY)
async def cluster_backend_deleted(name: str, body: kopf.Body, memo: Any, **_: Any) -> None:
    resource = ClusterBackendResource.from_object(body)
    if not memo.deps.owns(resource.uid):
        raise kopf.TemporaryError("the replica acting on this backend tears it down", delay=3)
    try:
        policy = DeletionPolicy(resource.raw_spec.get("deletionPolicy", DeletionPolicy.RETAIN))
    except ValueError:
        policy = DeletionPolicy.RETAIN  # an invalid spec loses nothing
    spec = resource.cluster_spec
    namespaces = set(ClusterBackendWorker.previous_namespaces(resource))
    if spec is not None:
        await memo.namespaces.wait_listed()
        namespaces |= selected_namespaces(spec, memo.namespaces)
    owner, count = cluster_owner(name), 0
    for namespace in sorted(namespaces):
        count += await teardown(memo.deps.secrets, namespace, owner, policy)
    forget_backend(memo.operator_namespace, owner)
    log.info(
        "%s deleted: %s %d Secret(s) in %d namespace(s)", name, policy.value, count, len(namespaces)
    )
