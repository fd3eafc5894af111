"""List a collection, then watch it from the list's resourceVersion, for as long as
the task runs.

A watch that the server ends is resumed from the last resourceVersion seen
(bookmarks move it on); 410 Gone means that history is gone, and the
collection is listed again; any other failure reconnects after a backoff
with jitter. What the items mean is the handler's business, and so is an
object it cannot take: an exception out of the handler for one event is
logged (naming the object, never its content) and the watch goes on; nothing
but cancellation ends :meth:`Reflector.run`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Protocol, TypeVar

import aiohttp

from .client import JSON, KubeApiError, KubeClient
from .watch import WatchExpiredError, list_all, watch_events

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class ReflectorHandler(Protocol):
    def replaced(self, scope: str, items: list[JSON]) -> None:
        """A full listing of ``scope`` (the collection path): the items there now."""
        ...

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        """``ADDED``, ``MODIFIED`` or ``DELETED`` of one object."""
        ...


class Reflector:
    def __init__(
        self,
        client: KubeClient,
        path: str,
        handler: ReflectorHandler,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> None:
        self.client = client
        self.path = path
        self.handler = handler
        self.label_selector = label_selector
        self.metadata_only = metadata_only
        self.synced = asyncio.Event()
        self.lists = 0
        self._rng = random.Random()  # noqa: S311  (jitter)

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                items, version = await list_all(
                    self.client,
                    self.path,
                    label_selector=self.label_selector,
                    metadata_only=self.metadata_only,
                )
                self.lists += 1
                self.handler.replaced(self.path, items)
                self.synced.set()
                delay = 1.0
                await self._watch(version)
            except WatchExpiredError:
                log.debug("watch of %s expired; listing again", self.path)
            except (KubeApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning(
                    "watch of %s failed (%s); retrying in %.0fs",
                    self.path,
                    type(exc).__name__,
                    delay,
                )
                await self._back_off(delay)
                delay = min(MAX_BACKOFF, delay * 2)
            except Exception as exc:  # a handler's defect on a listing: never the end
                log.error(
                    "%s: the listing could not be handled (%s); listing again in %.0fs",
                    self.path,
                    type(exc).__name__,
                    delay,
                )
                await self._back_off(delay)
                delay = min(MAX_BACKOFF, delay * 2)

    async def _back_off(self, delay: float) -> None:
        await asyncio.sleep(delay * self._rng.uniform(0.8, 1.2))

    async def _watch(self, version: str) -> None:
        while True:
            async for event in watch_events(
                self.client,
                self.path,
                version,
                label_selector=self.label_selector,
                metadata_only=self.metadata_only,
            ):
                version = event.resource_version or version
                if event.type in ("ADDED", "MODIFIED", "DELETED"):
                    self._changed(event.type, event.object)

    def _changed(self, event_type: str, obj: JSON) -> None:
        try:
            self.handler.changed(self.path, event_type, obj)
        except Exception as exc:  # that object's problem alone: the watch goes on
            log.error(
                "%s: %s of %s could not be handled (%s)",
                self.path,
                event_type,
                object_name(obj),
                type(exc).__name__,
            )


def object_name(obj: JSON) -> str:
    """``namespace/name`` of an object (for a log line; never its content)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    return "/".join(str(meta.get(k))[:253] for k in ("namespace", "name") if meta.get(k))


T = TypeVar("T")


def parse_each(scope: str, items: list[JSON], parse: Callable[[JSON], T]) -> list[T]:
    """Each item of a listing parsed; one that cannot be is logged and left out, the
    others kept."""
    parsed: list[T] = []
    for obj in items:
        try:
            parsed.append(parse(obj))
        except Exception as exc:  # that object's problem alone
            log.error("%s: %s could not be read (%s)", scope, object_name(obj), type(exc).__name__)
    return parsed
