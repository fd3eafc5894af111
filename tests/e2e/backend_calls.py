"""The operator's backend calls, read from its metrics: what a sync asked a store."""

from __future__ import annotations

import asyncio

from .helpers import eventually
from .scrape import series


async def backend_calls(port: int, backend_type: str) -> dict[tuple[str, str], float]:
    """``scaivault_backend_calls_total`` of one backend type, by (operation, result)."""
    return {
        (sample.labels["operation"], sample.labels["result"]): sample.value
        for sample in await series(port, "scaivault_backend_calls_total", type=backend_type)
    }


def delta(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def settled_calls(
    port: int, backend_type: str, before: dict[tuple[str, str], float], operation: str
) -> dict[tuple[str, str], float]:
    """The calls since ``before`` once ``operation`` shows up (the worker exports its calls
    just after it writes the status), and a moment more."""

    async def counted() -> dict[tuple[str, str], float] | None:
        moved = delta(await backend_calls(port, backend_type), before)
        return moved if any(op == operation for op, _ in moved) else None

    await eventually(counted, timeout=10, what=f"{operation} calls in the metrics")
    await asyncio.sleep(0.5)
    return delta(await backend_calls(port, backend_type), before)
