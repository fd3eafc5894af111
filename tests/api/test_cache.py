"""The watch-backed cache against the real apiserver: changes made with kubectl-like
writes show up, a 410 Gone makes it list again."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.api.cache import BackendCache
from scaivault_federation.api.server import ApiServer
from scaivault_federation.k8s.backend_store import BackendStores
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.reflector import Reflector
from scaivault_federation.k8s.watch import WatchExpiredError, list_all, watch_events
from scaivault_federation.models.kind import FEDERATION_BACKEND
from scaivault_federation.models.status import backend_id

from .conftest import Namespace
from .helpers import FED, ApiClient, eventually
from .test_backends import suspended_and_settled

pytestmark = pytest.mark.e2e


#: every FederationBackend, for a list + watch
(COLLECTION,) = FEDERATION_BACKEND.collections()


def spec(prefix: str = "x") -> dict[str, Any]:
    return {
        "type": "hashicorp-vault",
        "config": {"endpoint": "http://127.0.0.1:1", "authConfigPath": "creds/token"},
        "pathMapping": {"team/**": f"secret/data/{prefix}/**"},
        "mode": "proxy",
    }


async def create_cr(ns: Namespace, name: str) -> dict[str, Any]:
    body = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": "FederationBackend",
        "metadata": {"name": name},
        "spec": spec(),
    }
    return await ns.kube.post(ns.backends(), body)


async def test_changes_made_outside_the_api_are_seen(api: ApiClient, ns: Namespace) -> None:
    cr = await create_cr(ns, "outside")
    ident = backend_id(cr["metadata"]["uid"])

    async def visible() -> Any:
        reply = await api.get(f"{FED}/backends/{ident}")
        return reply if reply.status == 200 else None

    reply = await eventually(visible, what="a CR created directly to appear")
    assert reply.body["name"] == "outside" and reply.body["mode"] == "proxy"

    await ns.kube.merge_patch(f"{ns.backends()}/outside", {"spec": {"suspend": True}})

    async def patched() -> Any:
        reply = await api.get(f"{FED}/backends/{ident}")
        return reply if reply.body.get("suspend") else None

    await eventually(patched, what="a spec change to appear")
    await ns.kube.delete(f"{ns.backends()}/outside")

    async def gone() -> Any:
        return (await api.get(f"{FED}/backends/{ident}")).status == 404

    await eventually(gone, what="a deleted CR to disappear")


async def test_status_id_wins_over_the_derived_one(
    api: ApiClient, ns: Namespace, operator: ManagedProcess
) -> None:
    created = await suspended_and_settled(api, ns)
    await ns.kube.merge_patch(
        f"{ns.backends()}/{created['name']}/status", {"status": {"id": "fed_custom"}}
    )

    async def visible() -> Any:
        reply = await api.get(f"{FED}/backends/fed_custom")
        return reply if reply.status == 200 else None

    reply = await eventually(visible, what="the status id")
    assert reply.body["id"] == "fed_custom" and reply.body["name"] == created["name"]
    assert (await api.get(f"{FED}/backends/{created['id']}")).status == 404


async def test_too_old_resource_version_is_410(kube: KubeClient) -> None:
    with pytest.raises(WatchExpiredError):
        async for _ in watch_events(kube, COLLECTION, "1", timeout_seconds=5):
            pass


async def test_watch_streams_events_and_bookmarks(kube: KubeClient, ns: Namespace) -> None:
    _, version = await list_all(kube, COLLECTION)
    seen: list[str] = []
    target = (ns.name, "streamed")

    async def consume() -> None:
        async for event in watch_events(kube, COLLECTION, version, timeout_seconds=30):
            meta = event.object["metadata"]
            if event.type != "BOOKMARK" and (meta["namespace"], meta["name"]) == target:
                seen.append(event.type)
            if "DELETED" in seen:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await create_cr(ns, "streamed")
    await ns.kube.delete(f"{ns.backends()}/streamed")
    await asyncio.wait_for(task, 30)
    assert seen[0] == "ADDED" and seen[-1] == "DELETED"


class ExpiringReflector(Reflector):
    """Its first watch asks for a version the apiserver no longer has."""

    expired_once = False

    async def _watch(self, version: str) -> None:
        if not self.expired_once:
            self.expired_once = True
            version = "1"
        await super()._watch(version)


class ExpiringCache(BackendCache):
    """Its FederationBackend watch expires once."""

    def __init__(self, client: KubeClient) -> None:
        super().__init__(BackendStores(client, [FEDERATION_BACKEND]))

    def make_reflectors(self) -> list[Reflector]:
        reflectors = super().make_reflectors()
        first = reflectors[0]
        reflectors[0] = ExpiringReflector(first.client, first.path, first.handler)
        return reflectors


async def test_cache_lists_again_after_410(api_server: ApiServer, ns: Namespace) -> None:
    cache = ExpiringCache(api_server.kube)
    task = asyncio.create_task(cache.run())
    try:
        await asyncio.wait_for(cache.synced.wait(), 10)
        await eventually(lambda: _ready(cache.lists >= 2), what="a second listing")
        name = f"late-{uuid.uuid4().hex[:6]}"
        await create_cr(ns, name)
        await eventually(lambda: _ready(cache.find(ns.name, name)), what="the watch to resume")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _ready(value: Any) -> Any:
    return value
