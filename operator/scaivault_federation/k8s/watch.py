"""List and watch a Kubernetes collection over the :class:`KubeClient`'s session.

A watch is one long HTTP response of JSON lines (``{"type", "object"}``).
Bookmarks only move the resourceVersion on. When the server no longer has
the history a watch asks for, it answers 410 Gone (as the HTTP status or as an
``ERROR`` event); that becomes :class:`WatchExpiredError`, and the caller lists
again. Lines are split here rather than by ``readline`` so an object of any
size (a status with many conflicts) fits.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from .client import JSON, KubeApiError, KubeClient, _error_from

LIST_PAGE_SIZE = 500


class WatchExpiredError(Exception):
    """410 Gone: the resourceVersion is too old; list again."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: JSON

    @property
    def resource_version(self) -> str | None:
        meta = self.object.get("metadata") or {}
        version = meta.get("resourceVersion")
        return str(version) if version else None


#: ask for metadata only (``PartialObjectMetadata``): no Secret data crosses the wire
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_ONLY_WATCH = (
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
)


async def list_all(
    client: KubeClient,
    path: str,
    *,
    label_selector: str | None = None,
    metadata_only: bool = False,
) -> tuple[list[JSON], str]:
    """Every item of the collection at ``path`` (paged) and the list's resourceVersion."""
    items: list[JSON] = []
    base: dict[str, str] = {"limit": str(LIST_PAGE_SIZE)}
    if label_selector:
        base["labelSelector"] = label_selector
    params = dict(base)
    accept = METADATA_ONLY if metadata_only else None
    while True:
        doc = await client.get(path, params=params, accept=accept)
        items.extend(doc.get("items") or [])
        meta = doc.get("metadata") or {}
        token = meta.get("continue")
        if not token:
            return items, str(meta.get("resourceVersion", ""))
        params = {**base, "continue": str(token)}


def _event_from(line: bytes) -> WatchEvent | None:
    text = line.strip()
    if not text:
        return None
    doc: Any = json.loads(text)
    kind = str(doc.get("type", ""))
    obj = doc.get("object") or {}
    if kind == "ERROR":
        code = int(obj.get("code", 0) or 0)
        if code == 410:
            raise WatchExpiredError(str(obj.get("message", "resource version too old")))
        raise _error_from(code or 500, json.dumps(obj))
    return WatchEvent(kind, obj)


async def watch_events(
    client: KubeClient,
    path: str,
    resource_version: str,
    *,
    timeout_seconds: int = 290,
    label_selector: str | None = None,
    metadata_only: bool = False,
) -> AsyncIterator[WatchEvent]:
    """Events after ``resource_version`` until the server ends the watch.

    Raises :class:`WatchExpiredError` on 410 and :class:`KubeApiError` on other
    API errors; connection errors propagate as :class:`aiohttp.ClientError`.
    """
    params = {
        "watch": "true",
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(timeout_seconds),
    }
    if label_selector:
        params["labelSelector"] = label_selector
    credentials = await client.connection.current()
    headers = {
        "Accept": METADATA_ONLY_WATCH if metadata_only else "application/json",
        **credentials.headers(),
    }
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
    session = await client.session_for(credentials)
    url = credentials.server + path
    async with session.get(
        url,
        params=params,
        headers=headers,
        timeout=timeout,
        server_hostname=credentials.tls_server_name,
    ) as resp:
        if resp.status == 410:
            raise WatchExpiredError("resource version too old")
        if resp.status == 401:  # the next attempt of the caller presents fresh credentials
            await client.connection.refresh(stale=credentials)
        if resp.status >= 400:
            raise _error_from(resp.status, await resp.text())
        buffer = b""
        async for chunk in resp.content.iter_any():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = _event_from(line)
                if event is not None:
                    yield event
        event = _event_from(buffer)
        if event is not None:
            yield event


__all__ = [
    "KubeApiError",
    "WatchEvent",
    "WatchExpiredError",
    "list_all",
    "watch_events",
]
