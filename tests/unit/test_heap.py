"""Handing freed memory back: glibc's malloc_trim, every minute beside the operator."""

from __future__ import annotations

import asyncio
import platform

import pytest

from scaivault_federation import heap


def test_the_allocator_is_asked_here() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.fail("this machine's tests run on glibc: trim_heap must reach malloc_trim")
    garbage = [bytearray(4096) for _ in range(20_000)]  # some 80 MiB, then freed
    del garbage
    assert heap.trim_heap() is True


async def test_trimming_runs_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(heap, "trim_heap", counted)
    task = asyncio.create_task(heap.trim_periodically(interval=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 3
