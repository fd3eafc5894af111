"""Carrying out a sync plan against the namespace's Secrets.

Writes, deletes and orphan marks run concurrently, a bounded number at a time,
by one pool of workers that takes them as they come (a large sync hands its
writes over part by part). A Secret the plan creates is created without being
read first: the namespace's other Secrets are not listed or fetched on a sync,
so a first sync of N paths costs N creates. Only when a create finds the name
taken (409) is that one Secret read and its path planned again against what is
there (a conflict, a takeover, or nothing to do). Any Kubernetes call that
fails (a write, a delete, an orphan mark) fails that path only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..k8s.client import ConflictError, KubeApiError
from ..models.secret import LocalSecret
from ..models.spec import ConflictPolicy
from .plan import Orphan, PlannedConflict, SyncPlan, Write, plan_sync
from .ports import SecretStorage

#: Kubernetes writes of one sync in flight at once
WRITE_CONCURRENCY = 16

Job = Callable[[], Awaitable[None]]


@dataclass
class Applied:
    written: int = 0
    deleted: int = 0
    orphaned: int = 0
    takeovers: list[str] = field(default_factory=list)
    #: names of existing Secrets whose data or type this sync changed
    changed: list[str] = field(default_factory=list)
    #: paths planned as writes that ended neither written nor failed (a create found
    #: a Secret in the way and planning it again wrote nothing)
    not_written: set[str] = field(default_factory=set)
    conflicts: list[PlannedConflict] = field(default_factory=list)
    item_errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Applier:
    store: SecretStorage
    namespace: str
    backend_name: str
    mac_key: bytes
    policy: ConflictPolicy
    concurrency: int = WRITE_CONCURRENCY
    result: Applied = field(default_factory=Applied)

    async def apply(self, plan: SyncPlan, local: Mapping[str, LocalSecret]) -> Applied:
        """Carry out ``plan`` (writes, deletes, orphan marks), ``concurrency`` at a time."""
        jobs: list[Job] = []
        jobs += [_bind(self._write, w, local.get(w.name)) for w in plan.writes]
        jobs += [_bind(self._delete, o) for o in plan.deletes]
        jobs += [_bind(self._orphan, o) for o in plan.orphans if not local[o.name].orphaned]
        self.result.orphaned += sum(1 for o in plan.orphans if local[o.name].orphaned)
        if jobs:
            await self._run(_each(jobs), min(self.concurrency, len(jobs)))
        return self.result

    async def stream(
        self, parts: AsyncIterator[Sequence[Write]], local: Mapping[str, LocalSecret]
    ) -> Applied:
        """Write each part's writes as the parts come, ``concurrency`` at a time: the
        next part is being made (read from the backend) while these are written."""

        async def jobs() -> AsyncIterator[Job]:
            async for part in parts:
                for write in part:
                    yield _bind(self._write, write, local.get(write.name))

        await self._run(jobs(), self.concurrency)
        return self.result

    async def _run(self, jobs: AsyncIterator[Job], workers: int) -> None:
        """Run ``jobs`` as they come, by ``workers`` at once. A job that raises fails
        the whole: no further job starts, and its error is raised once the running
        ones have ended (each path's own failures are item errors, never raised)."""
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=workers)
        failures: list[Exception] = []

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                if failures:
                    continue  # failing: drain without running
                try:
                    await job()
                except Exception as exc:
                    failures.append(exc)

        running = [asyncio.create_task(worker()) for _ in range(workers)]
        try:
            async for job in jobs:
                await queue.put(job)
            for _ in running:
                await queue.put(None)
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        if failures:
            raise failures[0]

    async def _write(
        self, write: Write, existing: LocalSecret | None, *, again: bool = False
    ) -> None:
        path = write.item.local_path
        try:
            await self.store.write_synced(
                self.namespace,
                write.name,
                backend_name=self.backend_name,
                path=path,
                remote_path=write.item.remote_path,
                remote_version=write.item.version,
                data=write.item.data,
                mac=write.mac,
                existing=existing,
                shape=write.shape,
            )
        except ConflictError as exc:
            if existing is None and not again:
                await self._replan(write)
            else:
                self.result.item_errors[path] = f"write failed: {exc.status_reason}"
            return
        except KubeApiError as exc:
            self.result.item_errors[path] = f"write failed: {exc.status_reason}"
            return
        self.result.written += 1
        if write.changes_data:
            self.result.changed.append(write.name)
        if write.takeover:
            self.result.takeovers.append(path)

    async def _replan(self, write: Write) -> None:
        """A create found the name taken: plan this path again against that Secret."""
        path = write.item.local_path
        try:
            found = await self.store.get(self.namespace, write.name)
        except KubeApiError as exc:
            self.result.item_errors[path] = f"write failed: {exc.status_reason}"
            return
        if found is None:  # deleted in between: create it after all
            await self._write(write, None, again=True)
            return
        again = plan_sync(
            backend_name=self.backend_name,
            items=[write.item],
            unchanged_versions={},
            local={found.name: found},
            key=self.mac_key,
            policy=self.policy,
            prune=False,
            listing_complete=False,
            names={path: write.name} if write.shape is not None else None,
        )
        self.result.conflicts.extend(again.conflicts)
        if not again.writes:
            self.result.not_written.add(path)
            return
        for retry in again.writes:
            await self._write(retry, found, again=True)

    async def _delete(self, orphan: Orphan) -> None:
        try:
            await self.store.delete(self.namespace, orphan.name, orphan.resource_version)
        except KubeApiError as exc:
            self.result.item_errors[orphan.path] = f"delete failed: {exc.status_reason}"
            return
        self.result.deleted += 1

    async def _orphan(self, orphan: Orphan) -> None:
        try:
            await self.store.mark_orphaned(self.namespace, orphan.name)
        except KubeApiError as exc:
            self.result.item_errors[orphan.path] = f"marking orphaned failed: {exc.status_reason}"
            return
        self.result.orphaned += 1


def _bind(fn: Callable[..., Awaitable[None]], *args: object) -> Job:
    async def run() -> None:
        await fn(*args)

    return run


async def _each(jobs: Sequence[Job]) -> AsyncIterator[Job]:
    for job in jobs:
        yield job
