"""Fuzzed bodies for ``POST /v1/federation/backends``: templates and endpoints an
attacker would send. The API answers each with a clear 4xx naming the field, or
creates the backend (suspended: nothing connects anywhere); never a 5xx, never
slowly. The endpoints all name loopback hosts.

Reproducible: a fixed number of examples, derandomized.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.hostile_strategies import api_bodies

from .conftest import Namespace
from .helpers import FED, ApiClient

EXAMPLES = 120
PER_REQUEST_SECONDS = 2.0


def _bodies() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(api_bodies(name="fuzz"))
    def collect(body: dict[str, Any]) -> None:
        found.append(body)

    collect()
    return found


async def test_fuzzed_bodies_get_a_4xx_naming_the_field_or_are_created(
    api: ApiClient, ns: Namespace
) -> None:
    bodies = _bodies()
    # the apiserver's first create of the kind is slow (admission warming up): not timed
    warm = await api.post(
        f"{FED}/backends", json={**bodies[0], "name": "warm", "namespace": ns.name}
    )
    assert warm.status in (201, 400)
    outcomes: dict[int, int] = {}
    messages: list[str] = []
    for index, body in enumerate(bodies):
        body = {**body, "name": f"fuzz-{index}", "namespace": ns.name}
        started = time.perf_counter()
        reply = await api.post(f"{FED}/backends", json=body)
        elapsed = time.perf_counter() - started
        outcomes[reply.status] = outcomes.get(reply.status, 0) + 1
        assert reply.status in (201, 400), (reply.status, reply.body, body)
        if reply.status == 400:
            error = reply.error
            assert error.get("field"), error
            assert error["message"]
            messages.append(f"{error['field']}: {error['message'][:100]}")
        assert elapsed < PER_REQUEST_SECONDS, (elapsed, body)
    assert outcomes.get(400, 0) > 0 and outcomes.get(201, 0) > 0, (outcomes, messages[:5])
