"""A FederationLease that keeps failing retries with back-off, not at once.

Each failure writes the status (its reason and time), and the watch brings that
write back; the worker must not take its own status write for a change and try
again at once. Over 8 seconds, a lease naming no backend is tried a handful of
times (2 s, 4 s, … apart), where a worker woken by its own writes tried it hundreds
of times a second.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from .helpers import Cluster

pytestmark = pytest.mark.e2e

API = "/apis/federation.scaivault.io/v1alpha1"
WATCHED = 8.0


async def test_a_failing_lease_is_retried_with_back_off(
    cluster: Cluster, operator_log: Path
) -> None:
    ref = f"nowhere-{uuid.uuid4().hex[:6]}"
    await cluster.kube.post(
        f"{API}/namespaces/{cluster.namespace}/federationleases",
        {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationLease",
            "metadata": {"name": "db"},
            "spec": {"backendRef": ref, "path": "database/creds/app"},
        },
    )
    await asyncio.sleep(WATCHED)
    tries = (await asyncio.to_thread(operator_log.read_text)).count(f"no FederationBackend {ref!r}")
    assert 1 <= tries <= 6, f"{tries} tries in {WATCHED:.0f} s"
    lease = await cluster.kube.get(f"{API}/namespaces/{cluster.namespace}/federationleases/db")
    assert lease["status"]["conditions"][0]["reason"] == "BackendNotUsable"
