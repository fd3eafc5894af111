"""A sync's reads: its paths read in parts, the next ones while a part is written.

``get_many`` of :data:`READ_PART` paths at a time, up to :data:`READ_AHEAD` parts
ahead of the one the sync works on, answered in order; a part that is read while the
next is still to come (the store still listing) is handed over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from ..backends.base import BatchResult, SecretBackend

#: remote paths read per ``get_many`` of a sync; their writes start while the next
#: part is read
READ_PART = 200
#: parts being read while the one before them is written: enough to keep the backend's
#: own concurrency busy from one part to the next
READ_AHEAD = 2


async def each_part(paths: Sequence[str]) -> AsyncIterator[list[str]]:
    """``paths``, :data:`READ_PART` at a time."""
    for start in range(0, len(paths), READ_PART):
        yield list(paths[start : start + READ_PART])


async def read_parts(
    backend: SecretBackend, parts: AsyncIterator[list[str]], pins: Mapping[str, str]
) -> AsyncGenerator[BatchResult, None]:
    """``backend.get_many`` of each of ``parts``, answered in order: up to
    :data:`READ_AHEAD` more parts are read while the caller works on (writes) one, and
    a part read while the next is still to come (a listing still going on) is handed
    over at once."""

    def read(part: Sequence[str]) -> asyncio.Task[BatchResult]:
        versions = {path: pins[path] for path in part if path in pins}
        if versions:
            return asyncio.ensure_future(backend.get_many(part, versions=versions))
        return asyncio.ensure_future(backend.get_many(part))

    pending: deque[asyncio.Task[BatchResult]] = deque()
    coming: asyncio.Task[list[str]] | None = asyncio.ensure_future(anext(parts))
    try:
        while coming is not None or pending:
            if coming is None or len(pending) > READ_AHEAD:
                yield await pending.popleft()
                continue
            waited: set[asyncio.Future[Any]] = {coming}
            if pending:
                waited.add(pending[0])
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if coming in done:
                try:
                    pending.append(read(coming.result()))
                except StopAsyncIteration:
                    coming = None
                else:
                    coming = asyncio.ensure_future(anext(parts))
            else:
                yield pending.popleft().result()
    finally:
        for task in (*pending, *([coming] if coming is not None else [])):
            task.cancel()
        for task in (*pending, *([coming] if coming is not None else [])):
            with contextlib.suppress(BaseException):
                await task
