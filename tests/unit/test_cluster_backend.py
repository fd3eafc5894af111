"""ClusterFederationBackend without a server: its selector and namespaced mapping,
the owner labels of its Secrets, and its worker (one run_sync per selected
namespace, namespaces dropped per deletionPolicy, per-namespace status)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from scaivault_federation.backends.base import BatchResult, RemoteSecretRef
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.k8s.namespace_index import NamespaceIndex
from scaivault_federation.labels import (
    BACKEND_LABEL,
    CLUSTER_BACKEND_LABEL,
    MANAGED_BY,
    SYNC_PATHS_ANNOTATION,
    SYNC_REQUESTED_ANNOTATION,
    cluster_owner,
    owner_labels,
)
from scaivault_federation.models.cluster import (
    ClusterBackendStatus,
    LabelSelector,
    cluster_spec,
    cluster_status,
)
from scaivault_federation.models.kind import CLUSTER_FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource, sync_paths_value
from scaivault_federation.sync.selected_namespaces import SelectedNamespacesWorker
from scaivault_federation.sync.shared_reads import SharedReads
from tests.unit.engine_fakes import SELECTED, World, backend_object, managed_secret

NAME = "platform"
OWNER = cluster_owner(NAME)
REMOTE = {"prod/db": "pw", "teams/a/token": "t-a", "teams/b/token": "t-b", "teams/c/token": "t-c"}


MAPPING = {"app/*": "prod/*", "team/*": "teams/{namespace}/*"}


def cluster_object(**spec: Any) -> dict[str, Any]:
    return backend_object(NAME, kind=CLUSTER_FEDERATION_BACKEND, **{"pathMapping": MAPPING, **spec})


class ClusterWorld(World):
    """A ClusterFederationBackend syncing ``app/*`` from ``prod/*`` and ``team/*`` from
    ``teams/{namespace}/*`` into namespaces ``a`` and ``b`` (``c`` is not selected),
    and the worker acting on it, stepped by hand."""

    def __init__(self, **spec: Any) -> None:
        super().__init__(
            kind=CLUSTER_FEDERATION_BACKEND,
            remote=REMOTE,
            namespaces={"a": SELECTED, "b": SELECTED, "c": {}},
            name=NAME,
            uid="c-uid",
            **{"pathMapping": MAPPING, **spec},
        )
        self.running = self.worker(watch=False)

    async def step(self) -> ClusterBackendStatus:
        await self.running.step(self.resource())
        return cluster_status(self.resource().status)

    def select(self, namespace: str, selected: bool) -> None:
        super().select(namespace, selected)
        self.running.namespaces_changed()


def test_label_selector_semantics() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"tier": "app"},
            "matchExpressions": [
                {"key": "team", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "secrets", "operator": "Exists"},
                {"key": "frozen", "operator": "DoesNotExist"},
            ],
        }
    )
    base = {"tier": "app", "team": "a", "secrets": ""}
    assert selector.matches(base)
    assert selector.matches({**base, "env": "prod"})
    assert not selector.matches({**base, "env": "dev"})
    assert not selector.matches({**base, "team": "c"})
    assert not selector.matches({**base, "frozen": "yes"})
    assert not selector.matches({"tier": "app", "team": "a"})
    assert LabelSelector().matches({})  # the empty selector selects every namespace


@pytest.mark.parametrize(
    "expression",
    [{"key": "k", "operator": "In"}, {"key": "k", "operator": "Exists", "values": ["v"]}],
)
def test_selector_values_must_fit_the_operator(expression: dict[str, Any]) -> None:
    resource = FederationBackendResource.from_object(
        cluster_object(namespaceSelector={"matchExpressions": [expression]}),
        CLUSTER_FEDERATION_BACKEND,
    )
    assert resource.spec is None
    assert "spec.namespaceSelector" in (resource.spec_error or "")


def test_namespace_selector_is_required() -> None:
    obj = cluster_object()
    del obj["spec"]["namespaceSelector"]
    resource = FederationBackendResource.from_object(obj, CLUSTER_FEDERATION_BACKEND)
    assert resource.spec is None and "spec.namespaceSelector" in (resource.spec_error or "")


def test_the_mapping_is_made_concrete_per_namespace() -> None:
    spec = cluster_spec(
        FederationBackendResource.from_object(cluster_object(), CLUSTER_FEDERATION_BACKEND).spec
    )
    assert spec is not None
    concrete = spec.in_namespace("team-a")
    assert concrete.path_mapping == {"app/*": "prod/*", "team/*": "teams/team-a/*"}
    assert [m.remote.pattern for m in concrete.mappings] == ["prod/*", "teams/team-a/*"]
    assert type(concrete).__name__ == "BackendSpec"


def test_owner_labels_never_name_a_federation_backend() -> None:
    assert owner_labels("payments") == {
        MANAGED_BY: "scaivault-federation",
        BACKEND_LABEL: "payments",
    }
    labels = owner_labels(cluster_owner("payments"))
    assert labels[BACKEND_LABEL] == "cluster_payments"  # no object name has an underscore
    assert labels[CLUSTER_BACKEND_LABEL] == "payments"


async def test_syncs_each_selected_namespace_with_one_client() -> None:
    world = ClusterWorld()
    status = await world.step()
    assert world.connector.calls == 1  # one client for every namespace
    # prod/ listed once for both namespaces, teams/a/ and teams/b/ each once
    assert len(world.connector.listed_at) == 3
    assert world.store.data("a") == {"app-db": {"value": b"pw"}, "team-token": {"value": b"t-a"}}
    assert world.store.data("b")["team-token"] == {"value": b"t-b"}
    assert world.store.names("c") == []
    assert all(s.managed_by == OWNER for s in await world.store.list_managed("a", OWNER))
    assert status.secrets_synced == 4
    assert status.namespace_count == 2
    assert [(n.name, n.secrets_synced, n.conflict_count) for n in status.namespaces] == [
        ("a", 2, 0),
        ("b", 2, 0),
    ]
    assert world.statuses.written[-1][:2] == ("", NAME)


async def test_a_newly_selected_namespace_syncs_at_once() -> None:
    world = ClusterWorld()
    await world.step()
    world.clock.advance(5)
    world.select("c", True)
    status = await world.step()  # long before the interval
    assert world.store.data("c")["team-token"] == {"value": b"t-c"}
    assert [n.name for n in status.namespaces] == ["a", "b", "c"]


async def test_an_unchanged_selection_does_not_wake_the_worker() -> None:
    world = ClusterWorld()
    await world.step()
    world.running.namespaces_changed()
    lists = len(world.connector.listed_at)
    await world.step()
    assert len(world.connector.listed_at) == lists


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
async def test_a_namespace_no_longer_selected_is_dropped_per_policy(policy: str) -> None:
    world = ClusterWorld(deletionPolicy=policy)
    await world.step()
    world.select("a", False)
    status = await world.step()
    assert [n.name for n in status.namespaces] == ["b"]
    if policy == "Delete":
        assert world.store.names("a") == []
    else:
        assert sorted(world.store.names("a")) == ["app-db", "team-token"]
        assert await world.store.list_managed("a", OWNER) == []
    assert len(await world.store.list_managed("b", OWNER)) == 2


async def test_a_namespaced_backend_of_the_same_name_is_a_conflict_in_its_namespace() -> None:
    world = ClusterWorld()
    world.store.put("b", managed_secret("app-db", "app/db", {"value": b"own"}, backend=NAME))
    status = await world.step()
    assert world.store.data("b")["app-db"] == {"value": b"own"}
    assert [(c.namespace, c.path, c.reason) for c in status.conflicts] == [
        ("b", "app/db", "ClaimedByOtherBackend")
    ]
    assert status.conflict_count == 1
    assert [(n.name, n.conflict_count) for n in status.namespaces] == [("a", 0), ("b", 1)]
    assert any("namespace b" in e.message for e in world.events.events)
    detected, synced_at = status.conflicts[0].detected_at, status.last_sync
    # a per-path sync of another path keeps the conflict as it was listed
    world.clock.advance(60)
    stamp = "2030-01-01T00:00:00Z"
    world.cr["metadata"]["annotations"] = {
        SYNC_REQUESTED_ANNOTATION: stamp,
        SYNC_PATHS_ANNOTATION: sync_paths_value(stamp, ["team/token"]),
    }
    status = await world.step()
    assert status.last_sync is not None and synced_at is not None
    assert status.last_sync > synced_at  # it did sync
    assert [(c.namespace, c.path, c.detected_at) for c in status.conflicts] == [
        ("b", "app/db", detected)
    ]
    assert [(n.name, n.conflict_count) for n in status.namespaces] == [("a", 0), ("b", 1)]


def test_the_namespace_index_follows_labels_and_says_when_they_change() -> None:
    index, heard = NamespaceIndex(), []
    index.listen(lambda: heard.append(1))

    def ns(name: str, **labels: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "labels": labels}}

    index.replaced("/api/v1/namespaces", [ns("a", team="x"), ns("b")])
    assert index.labels() == {"a": {"team": "x"}, "b": {}}
    index.changed("/api/v1/namespaces", "MODIFIED", ns("b"))  # nothing new: no news
    assert len(heard) == 1
    index.changed("/api/v1/namespaces", "MODIFIED", ns("b", team="x"))
    index.changed("/api/v1/namespaces", "ADDED", ns("c"))
    index.changed("/api/v1/namespaces", "DELETED", ns("a", team="x"))
    assert index.labels() == {"b": {"team": "x"}, "c": {}}
    assert len(heard) == 4
    terminating = ns("c")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    index.changed("/api/v1/namespaces", "MODIFIED", terminating)  # going: no longer a target
    assert "c" not in index.labels()


async def test_after_a_restart_a_moved_selection_syncs_at_once() -> None:
    world = ClusterWorld()
    await world.step()
    world.clock.advance(60)
    # the operator restarts; meanwhile namespace b was unlabelled
    world.namespaces.by_name["b"] = {}
    world.running = world.worker(watch=False)
    status = await world.step()
    assert [n.name for n in status.namespaces] == ["a"]
    assert await world.store.list_managed("b", OWNER) == []


async def test_after_a_restart_an_unmoved_selection_keeps_its_schedule() -> None:
    world = ClusterWorld()
    await world.step()
    lists = len(world.connector.listed_at)
    world.clock.advance(60)
    world.running = world.worker(watch=False)
    await world.step()
    assert len(world.connector.listed_at) == lists
    assert isinstance(world.running, SelectedNamespacesWorker)
    assert world.running.targets == {"a", "b"}


class CountingBackend(FakeBackend):
    def __init__(self, entries: dict[str, Any]) -> None:
        super().__init__(entries)
        self.lists: list[str] = []
        self.reads: list[str] = []

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        self.lists.append(prefix)
        return await super().list_secrets(prefix)

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        self.reads.extend(paths)
        return await super().get_many(paths, versions)


async def test_one_round_lists_each_prefix_and_reads_each_path_once() -> None:
    backend = CountingBackend({"prod/db": "pw", "prod/api": "k"})
    shared = SharedReads(backend)
    for _ in range(3):
        assert [r.path for r in await shared.list_secrets("prod/")] == ["prod/api", "prod/db"]
        batch = await shared.get_many(["prod/db", "prod/gone"])
        assert list(batch.found) == ["prod/db"] and batch.missing == ["prod/gone"]
    await shared.get_many(["prod/api", "prod/db"])
    assert backend.lists == ["prod/"]
    assert backend.reads == ["prod/db", "prod/gone", "prod/api"]
    await shared.close()  # the worker's client stays open
    assert await shared.probe() > 0


async def test_a_per_path_request_syncs_those_paths_in_each_namespace() -> None:
    world = ClusterWorld()
    await world.step()
    world.server.set("teams/a/token", "t-a2")
    world.server.set("teams/b/token", "t-b2")
    world.server.set("prod/db", "pw2")  # changed too, but not asked for
    stamp = "2030-01-01T00:00:00Z"
    world.cr["metadata"]["annotations"] = {
        SYNC_REQUESTED_ANNOTATION: stamp,
        SYNC_PATHS_ANNOTATION: sync_paths_value(stamp, ["team/token"]),
    }

    status = await world.step()

    assert world.store.data("a") == {"app-db": {"value": b"pw"}, "team-token": {"value": b"t-a2"}}
    assert world.store.data("b") == {"app-db": {"value": b"pw"}, "team-token": {"value": b"t-b2"}}
    assert world.store.names("c") == []
    # the figures stay those of the whole backend
    assert [(n.name, n.secrets_synced) for n in status.namespaces] == [("a", 2), ("b", 2)]
    assert status.secrets_synced == 4
    # the next full sync takes the rest
    world.clock.advance(3600)
    await world.step()
    assert world.store.data("a")["app-db"] == {"value": b"pw2"}


async def test_a_replica_that_does_not_act_on_it_sleeps() -> None:
    """A standby replica's worker parks until ownership changes: it neither syncs nor
    keeps waking itself over a selection it does not act on."""
    world = ClusterWorld()
    world.deps.owns = lambda uid: False
    task = asyncio.create_task(world.running.run(world.resource()))
    await world.clock.settle(task)
    assert not task.done() and world.connector.calls == 0 and world.statuses.written == []
    world.deps.owns = lambda uid: True
    world.running.ownership_changed()
    await world.clock.settle(task)
    assert [n.name for n in cluster_status(world.resource().status).namespaces] == ["a", "b"]
    task.cancel()
