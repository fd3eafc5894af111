"""The kopf handlers: a few lines each, over the kopf-free sync package."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import kopf

from ..backends.credentials import connect
from ..k8s.backend_store import BackendStore
from ..k8s.client import KubeClient
from ..k8s.config import load_connection
from ..k8s.events import EventRecorder
from ..k8s.secrets import SecretStore
from ..k8s.tokens import ServiceAccountTokens
from ..k8s.workloads import WorkloadStore
from ..labels import FINALIZER, GROUP, PLURAL, VERSION
from ..models.resource import FederationBackendResource
from ..models.spec import DeletionPolicy
from ..settings import Settings
from ..sync.metrics import forget_backend
from ..sync.teardown import teardown
from ..sync.worker import BackendWorker, OperatorDeps

log = logging.getLogger(__name__)

WorkerKey = tuple[str, str]


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours: Settings = memo.settings
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.batching.worker_limit = ours.worker_limit
    settings.watching.server_timeout = 300
    connection = load_connection(
        ours.kubeconfig,
        service_host=ours.kubernetes_service_host,
        service_port=ours.kubernetes_service_port,
    )
    client = KubeClient(
        connection, write_qps=ours.kube_write_qps, write_burst=ours.kube_write_burst
    )
    secrets = SecretStore(client)
    namespace = ours.operator_namespace or connection.default_namespace
    memo.client = client
    memo.workers = {}
    memo.deps = OperatorDeps(
        secrets=secrets,
        statuses=BackendStore(client),
        events=EventRecorder(client),
        connect=functools.partial(
            connect,
            secrets=secrets,
            tokens=ServiceAccountTokens(client),
            environment=ours.backend_environment(),
        ),
        mac_key=await secrets.load_or_create_mac_key(namespace),
        sync_slots=asyncio.Semaphore(ours.max_concurrent_syncs),
        workloads=WorkloadStore(client),
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    client: KubeClient | None = getattr(memo, "client", None)
    if client is not None:
        await client.close()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def backend_daemon(
    name: str, namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> None:
    assert namespace is not None  # the resource is namespaced
    worker = BackendWorker(memo.deps, namespace, name)
    workers: dict[WorkerKey, BackendWorker] = memo.workers
    workers[(namespace, name)] = worker
    try:
        await worker.run(FederationBackendResource.from_object(body))
    finally:
        if workers.get((namespace, name)) is worker:
            del workers[(namespace, name)]


@kopf.on.event(GROUP, VERSION, PLURAL)
def backend_changed(name: str, namespace: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Every watch event hands the live object to its worker (which wakes on it)."""
    workers: dict[WorkerKey, BackendWorker] = getattr(memo, "workers", {})
    worker = workers.get((namespace or "", name))
    if worker is not None:
        worker.observe(FederationBackendResource.from_object(body))


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def backend_deleted(
    name: str, namespace: str | None, spec: kopf.Spec, memo: Any, **_: Any
) -> None:
    assert namespace is not None
    policy = DeletionPolicy(spec.get("deletionPolicy", DeletionPolicy.RETAIN.value))
    count = await teardown(memo.deps.secrets, namespace, name, policy)
    forget_backend(namespace, name, str(spec.get("type", "")))
    log.info("%s/%s deleted: %s %d Secret(s)", namespace, name, policy.value, count)


@kopf.on.probe(id="backends")
def probe(memo: kopf.Memo, **_: Any) -> bool:
    return getattr(memo, "deps", None) is not None
