"""Freed memory back to the operating system.

A first sync of thousands of paths, or thousands of backends starting at once,
allocates and frees a great deal: glibc's allocator keeps what was freed for
reuse, so the process's resident size stays at its peak long after. Every
minute :func:`trim_periodically` asks it to hand the free pages back
(``malloc_trim``), which takes a few milliseconds. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: seconds between two trims
TRIM_INTERVAL = 60.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:  # the symbols the process already has: libc's among them
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def trim_heap() -> bool:
    """Return the allocator's free memory to the system; whether it could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def trim_periodically(interval: float = TRIM_INTERVAL) -> None:
    """:func:`trim_heap` every ``interval`` seconds until cancelled."""
    if _malloc_trim() is None:
        log.debug("malloc_trim is not available: freed memory stays with the allocator")
        return
    while True:
        await asyncio.sleep(interval)
        trim_heap()
