"""What a per-path sync request costs the apiserver, against the real one: from the
backend as the API's cache shows it, one guarded patch and no read; from a copy that
is out of date, the patch is refused, the object read, and the request written onto
what it now holds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.k8s.backend_store import BackendStore
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.labels import SYNC_REQUESTED_ANNOTATION
from scaivault_federation.models.kind import FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource
from scaivault_federation.paths import PathScope

from .conftest import Namespace

pytestmark = pytest.mark.e2e

SPEC: dict[str, Any] = {
    "type": "hashicorp-vault",
    "config": {"endpoint": "http://127.0.0.1:1", "authConfigPath": "creds/token"},
    "pathMapping": {"app/**": "secret/data/app/**"},
    "mode": "sync",
    "syncInterval": "1h",
}


def moved(before: dict[str, int], kube: KubeClient) -> dict[str, int]:
    """The requests ``kube`` made since ``before``, by method."""
    return {m: n - before.get(m, 0) for m, n in kube.requests.items() if n != before.get(m, 0)}


async def test_a_request_from_the_cached_backend_is_one_patch_and_no_read(
    crd: None, control_plane: ControlPlane, ns: Namespace
) -> None:
    # a client of its own: the session's is shared with watches that count too
    kube = KubeClient(load_connection(control_plane.kubeconfig))
    try:
        await _requests(kube, ns)
    finally:
        await kube.close()


async def settled(store: BackendStore, namespace: str, name: str) -> FederationBackendResource:
    """The backend once nothing changes it any more (an operator running beside the
    tests adds its finalizer and status first)."""
    last = await store.get(namespace, name)
    for _ in range(30):
        await asyncio.sleep(1)
        now = await store.get(namespace, name)
        if now.resource_version == last.resource_version:
            return now
        last = now
    raise AssertionError("the backend kept changing")


async def _requests(kube: KubeClient, ns: Namespace) -> None:
    await kube.post(
        ns.backends(),
        {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": "b"},
            "spec": SPEC,
        },
    )
    store = BackendStore(kube, FEDERATION_BACKEND)
    cached = await settled(store, ns.name, "b")

    before = dict(kube.requests)
    written = await store.request_sync(
        ns.name, "b", "2026-12-07T10:00:00.000001Z", PathScope(["app/a"]), known=cached
    )
    assert moved(before, kube) == {"PATCH": 1}
    assert written.metadata.annotations[SYNC_REQUESTED_ANNOTATION] == "2026-12-07T10:00:00.000001Z"

    # the cached copy is now out of date: refused, read, merged with the pending request
    before = dict(kube.requests)
    merged = await store.request_sync(
        ns.name, "b", "2026-12-07T10:00:00.000002Z", PathScope(["app/b"]), known=cached
    )
    asked = moved(before, kube)  # refused, then read and written (again, if an
    # operator beside the tests wrote the status of the first request's sync meanwhile)
    assert asked["GET"] >= 1 and asked["PATCH"] == asked["GET"] + 1, asked
    assert merged.metadata.annotations[SYNC_REQUESTED_ANNOTATION] == "2026-12-07T10:00:00.000002Z"
    assert merged.sync_paths_since("2026-12-07T10:00:00.000001Z") == PathScope(["app/b"])
