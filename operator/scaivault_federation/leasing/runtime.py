"""The leasing runtime: a list + watch of each leasing kind feeds one worker per
resource. A resource's worker starts at its first event and ends once it is
deleted (its finalizer removed) or gone; stopping the runtime stops the workers
and revokes nothing (the next process starts from the status)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from ..k8s.client import JSON
from ..k8s.reflector import Reflector, parse_each
from ..models.leased import FEDERATION_CERTIFICATE, FEDERATION_LEASE, LeasedKind
from .certificate_worker import CertificateWorker
from .lease_worker import LeaseWorker
from .metrics import LeasedMetrics
from .worker import LeasingDeps, Worker

log = logging.getLogger(__name__)

KINDS: tuple[LeasedKind[Any, Any], ...] = (FEDERATION_LEASE, FEDERATION_CERTIFICATE)
Key = tuple[str, str, str]


class LeasingRuntime:
    def __init__(self, deps: LeasingDeps) -> None:
        self.deps = deps
        self.workers: dict[Key, Worker[Any, Any]] = {}
        self.tasks: dict[Key, asyncio.Task[None]] = {}

    def reflectors(self, namespaces: Sequence[str]) -> list[Reflector]:
        return [
            reflector
            for kind in KINDS
            for reflector in self.deps.store.reflectors(kind, _Feed(self, kind), namespaces)
        ]

    def observe(self, kind: LeasedKind[Any, Any], obj: JSON) -> None:
        resource = kind.parse(obj)
        key = (kind.kind, resource.namespace, resource.name)
        worker = self.workers.get(key)
        if worker is not None and worker.resource.uid != resource.uid:
            self._stop(key)  # deleted and created again under the same name
            worker = None
        if worker is None or key not in self.tasks or self.tasks[key].done():
            make = LeaseWorker if kind is FEDERATION_LEASE else CertificateWorker
            worker = make(self.deps, resource)
            self.workers[key] = worker
            self.tasks[key] = asyncio.create_task(
                worker.run(), name=f"{kind.kind} {key[1]}/{key[2]}"
            )
            return
        worker.observe(resource)

    def gone(self, kind: LeasedKind[Any, Any], obj: JSON) -> None:
        resource = kind.parse(obj)
        key = (kind.kind, resource.namespace, resource.name)
        self._stop(key)
        LeasedMetrics(resource.namespace, kind.kind, resource.name).forget()

    def replaced(self, kind: LeasedKind[Any, Any], scope: str, items: list[JSON]) -> None:
        listed = parse_each(scope, items, kind.parse)
        present = {(kind.kind, r.namespace, r.name) for r in listed}
        for key in [k for k in self.workers if k[0] == kind.kind and k not in present]:
            self._stop(key)
        for obj in items:
            with contextlib.suppress(Exception):
                self.observe(kind, obj)

    def ownership_changed(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()

    def _stop(self, key: Key) -> None:
        self.workers.pop(key, None)
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        self.workers.clear()


class _Feed:
    def __init__(self, runtime: LeasingRuntime, kind: LeasedKind[Any, Any]) -> None:
        self.runtime = runtime
        self.kind = kind

    def replaced(self, scope: str, items: list[JSON]) -> None:
        self.runtime.replaced(self.kind, scope, items)

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        if event_type == "DELETED":
            self.runtime.gone(self.kind, obj)
        else:
            self.runtime.observe(self.kind, obj)
