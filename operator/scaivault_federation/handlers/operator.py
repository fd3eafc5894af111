"""The kopf handlers: a few lines each, over the kopf-free sync package."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from ..k8s.client import KubeClient
from ..k8s.config import load_connection
from ..k8s.resources import load_or_create_mac_key
from ..k8s.secrets import SecretStore
from ..labels import FINALIZER
from ..metrics import forget_backend
from ..models.spec import GROUP, PLURAL, VERSION, DeletionPolicy
from ..sync.teardown import teardown
from ..sync.worker import BackendWorker, OperatorDeps

log = logging.getLogger(__name__)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.batching.worker_limit = int(_env_float("SCAIVAULT_WORKER_LIMIT", 64))
    settings.watching.server_timeout = 300
    client = KubeClient(
        load_connection(),
        write_qps=_env_float("SCAIVAULT_KUBE_WRITE_QPS", 50),
        write_burst=int(_env_float("SCAIVAULT_KUBE_WRITE_BURST", 100)),
    )
    namespace = os.environ.get("SCAIVAULT_OPERATOR_NAMESPACE", client.connection.default_namespace)
    memo.deps = OperatorDeps(
        client=client,
        store=SecretStore(client),
        mac_key=await load_or_create_mac_key(client, namespace),
        sync_slots=asyncio.Semaphore(int(_env_float("SCAIVAULT_MAX_CONCURRENT_SYNCS", 8))),
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    deps: OperatorDeps | None = getattr(memo, "deps", None)
    if deps is not None:
        await deps.client.close()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def backend_daemon(
    name: str, namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> None:
    assert namespace is not None  # the resource is namespaced
    await BackendWorker(memo.deps, namespace, name).run(lambda: body)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def backend_deleted(
    name: str, namespace: str | None, spec: kopf.Spec, memo: Any, **_: Any
) -> None:
    assert namespace is not None
    policy = DeletionPolicy(spec.get("deletionPolicy", DeletionPolicy.RETAIN.value))
    count = await teardown(memo.deps.store, namespace, name, policy)
    forget_backend(namespace, name, str(spec.get("type", "")))
    log.info("%s/%s deleted: %s %d Secret(s)", namespace, name, policy.value, count)


@kopf.on.probe(id="backends")
def probe(memo: kopf.Memo, **_: Any) -> bool:
    return getattr(memo, "deps", None) is not None
