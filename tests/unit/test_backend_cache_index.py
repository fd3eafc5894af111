"""The API's backend cache answers a namespace's questions from that namespace's
backends only (a read must not cost a pass over every backend of the cluster)."""

from __future__ import annotations

from typing import Any

from scaivault_federation.api.cache import BackendCache
from scaivault_federation.k8s.backend_store import BackendStore
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
    cache = BackendCache(BackendStore.__new__(BackendStore))  # no apiserver: never run
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
    cache._replace([backend("b", "x", "team")])
    assert cache.backends("a") == [] and [b.name for b in cache.backends("b")] == ["x"]


def test_a_newer_version_replaces_the_indexed_one() -> None:
    cache = cache_of(backend("a", "one", "team", version=1))
    cache.upsert(backend("a", "one", "ops", version=2))
    cache.upsert(backend("a", "one", "old", version=1))  # older: ignored
    assert len(cache.backends("a")) == 1
    assert cache.owner_of("a", "ops/x") is not None
    assert cache.owner_of("a", "team/x") is None
