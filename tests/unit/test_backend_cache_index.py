"""The API's backend cache answers a namespace's questions from that namespace's
backends only (a read must not cost a pass over every backend of the cluster)."""

from __future__ import annotations

from typing import Any

from scaivault_federation.api.cache import BackendCache
from scaivault_federation.k8s.backend_store import BackendStores
from scaivault_federation.k8s.namespace_index import NamespaceIndex
from scaivault_federation.models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource


def backend(namespace: str, name: str, prefix: str, version: int = 1) -> FederationBackendResource:
    obj: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "generation": 1,
            "resourceVersion": str(version),
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "type": "hashicorp-vault",
            "config": {"endpoint": "http://127.0.0.1:1", "authConfigPath": "creds/token"},
            "pathMapping": {f"{prefix}/**": f"secret/data/{prefix}/**"},
            "mode": "proxy",
        },
    }
    return FederationBackendResource.from_object(obj)


def cache_of(*items: FederationBackendResource) -> BackendCache:
    cache = BackendCache(BackendStores.__new__(BackendStores))  # no apiserver: never run
    for item in items:
        cache.upsert(item)
    return cache


def test_reads_see_only_their_namespace() -> None:
    cache = cache_of(
        backend("a", "one", "team"), backend("a", "two", "ops"), backend("b", "one", "team")
    )
    assert [b.name for b in cache.backends("a")] == ["one", "two"]
    assert [b.namespace for b in cache.backends()] == ["a", "a", "b"]
    assert cache.backends("c") == []
    found = cache.find("b", "one")
    assert found is not None and found.namespace == "b"
    assert cache.find("b", "two") is None
    owner = cache.owner_of("a", "ops/db")
    assert owner is not None and owner[0].name == "two" and owner[2] == "secret/data/ops/db"
    assert cache.owner_of("b", "ops/db") is None


def test_removed_and_replaced_backends_leave_the_index() -> None:
    first, second = backend("a", "one", "team"), backend("a", "two", "ops")
    cache = cache_of(first, second)
    cache.remove(first.uid)
    assert [b.name for b in cache.backends("a")] == ["two"]
    assert cache.find("a", "one") is None
    cache.remove(second.uid)
    assert cache.backends("a") == [] and cache.namespaces() == set()
    cache._replace([backend("b", "x", "team")], FEDERATION_BACKEND)
    assert cache.backends("a") == [] and [b.name for b in cache.backends("b")] == ["x"]


def test_a_newer_version_replaces_the_indexed_one() -> None:
    cache = cache_of(backend("a", "one", "team", version=1))
    cache.upsert(backend("a", "one", "ops", version=2))
    cache.upsert(backend("a", "one", "old", version=1))  # older: ignored
    assert len(cache.backends("a")) == 1
    assert cache.owner_of("a", "ops/x") is not None
    assert cache.owner_of("a", "team/x") is None


def cluster_backend(
    name: str, selector: dict[str, Any], mapping: dict[str, str], version: str = "1"
) -> Any:
    obj: dict[str, Any] = {
        "metadata": {
            "name": name,
            "uid": f"uid-cluster-{name}",
            "generation": 1,
            "resourceVersion": version,
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {
            "type": "hashicorp-vault",
            "config": {"endpoint": "http://127.0.0.1:1", "authConfigPath": "creds/token"},
            "pathMapping": mapping,
            "namespaceSelector": selector,
            "mode": "proxy",
        },
    }
    return FederationBackendResource.from_object(obj, CLUSTER_FEDERATION_BACKEND)


def cluster_cache(**namespaces: dict[str, str]) -> tuple[BackendCache, Any]:
    """A cache seeing ``namespaces`` (name -> labels), holding cluster backend
    ``platform`` that selects ``team=x`` and maps ``t/{namespace}/**``."""
    index = NamespaceIndex()
    index.replaced("", [{"metadata": {"name": "a", "labels": {"team": "x"}}}])
    index.replaced(
        "", [{"metadata": {"name": n, "labels": labels}} for n, labels in namespaces.items()]
    )
    cache = BackendCache(BackendStores.__new__(BackendStores), namespaces=index)
    platform = cluster_backend(
        "platform", {"matchLabels": {"team": "x"}}, {"t/{namespace}/**": "s/{namespace}/**"}
    )
    cache.upsert(platform)
    return cache, platform


def test_cluster_backends_claim_paths_in_the_namespaces_they_select() -> None:
    cache, platform = cluster_cache(a={"team": "x"}, b={})
    cache.upsert(backend("a", "own", "own"))
    # apart from the namespaced ones
    assert [b.name for b in cache.backends()] == ["own"]
    assert [b.name for b in cache.cluster_backends()] == ["platform"]
    assert cache.namespaces() == {"a"}
    assert set(cache.uids()) == {platform.uid, "uid-a-own"}
    owner = cache.owner_of("a", "t/a/db")
    assert owner is not None and owner[0].name == "platform" and owner[2] == "s/a/db"
    assert cache.owner_of("a", "t/b/db") is None  # {namespace} is the namespace's own name
    assert cache.owner_of("b", "t/b/db") is None  # not selected
    assert cache.managing("a", "cluster_platform") is platform
    assert cache.managing("a", "platform") is None
    # a listing of one kind leaves the other alone
    cache._replace([], CLUSTER_FEDERATION_BACKEND)
    assert cache.cluster_backends() == [] and [b.name for b in cache.backends()] == ["own"]


def test_a_cluster_backends_mappings_per_namespace_are_made_once_a_version() -> None:
    cache, platform = cluster_cache(a={"team": "x"}, b={"team": "x"}, c={})

    [(found, per_namespace)] = cache.cluster_mappings()
    assert found is platform
    assert [m.to_local("s/a/db") for [m] in per_namespace] == ["t/a/db", None]  # a, then b
    assert [m.to_local("s/b/db") for [m] in per_namespace] == [None, "t/b/db"]
    # the same mapping objects for as long as the resourceVersion stays
    [(_, again)] = cache.cluster_mappings()
    assert all(x is y for x, y in zip(again, per_namespace, strict=True))
    owner = cache.owner_of("a", "t/a/db")
    assert owner is not None and owner[1] is per_namespace[0][0]
    newer = cluster_backend(
        "platform",
        {"matchLabels": {"team": "x"}},
        {"u/{namespace}/**": "s/{namespace}/**"},
        version="2",
    )
    cache.upsert(newer)
    [(_, changed)] = cache.cluster_mappings()
    assert [m.to_local("s/a/db") for [m] in changed] == ["u/a/db", None]
    cache.remove(platform.uid)
    assert cache.cluster_mappings() == [] and cache._in_namespace == {}
