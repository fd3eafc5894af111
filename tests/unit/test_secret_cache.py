"""The managed-Secret cache: our own writes and their watch events, in either order,
are read once; a listing still owns what it lists."""

from __future__ import annotations

import base64
from typing import Any

from scaivault_federation.k8s.secret_cache import ALL_SECRETS, ManagedSecretCache
from scaivault_federation.labels import (
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
)


def secret(name: str, version: str, value: bytes = b"v") -> dict[str, Any]:
    return {
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": version,
            "labels": {MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: "b"},
        },
        "data": {"k": base64.b64encode(value).decode()},
    }


def test_a_write_and_its_watch_event_in_either_order_are_held_once() -> None:
    cache = ManagedSecretCache()
    heard: list[str] = []
    cache.listen(lambda event, namespace, before, after: heard.append(event))
    cache.upsert("ns", secret("a", "5"))  # the answer to our create
    cache.changed(ALL_SECRETS, "ADDED", secret("a", "5"))  # then its watch event
    cache.changed(ALL_SECRETS, "ADDED", secret("b", "6"))  # the watch event first
    cache.upsert("ns", secret("b", "6"))  # then the answer: nothing new
    cache.upsert("ns", secret("b", "4", b"older"))  # an older answer: ignored
    assert [s.data for s in cache.managed("ns", "b")] == [{"k": b"v"}, {"k": b"v"}]
    assert heard == ["ADDED"]  # only b's event was news; a's was our write, applied


def test_a_listing_owns_what_our_writes_put_in_first() -> None:
    cache = ManagedSecretCache()
    cache.upsert("ns", secret("a", "5"))
    cache.replaced(ALL_SECRETS, [secret("a", "5")])
    cache.replaced(ALL_SECRETS, [])  # listed again: gone meanwhile
    assert cache.managed("ns", "b") == []


def test_the_secrets_of_some_names_or_paths_and_how_many_hold_a_path() -> None:
    cache = ManagedSecretCache()
    for name, path, version in (("a", "app/a", "1"), ("b", "app/b", "2"), ("c", None, "3")):
        obj = secret(name, version)
        if path is not None:
            obj["metadata"]["annotations"] = {PATH_ANNOTATION: path}
        cache.upsert("ns", obj)
    assert [s.name for s in cache.managed_at("ns", "b", {"c", "x"}, {"app/a"})] == ["a", "c"]
    assert cache.count_holding("ns", "b") == 2
    orphaned = secret("b", "4")
    orphaned["metadata"]["annotations"] = {PATH_ANNOTATION: "app/b", ORPHANED_AT_ANNOTATION: "t"}
    cache.upsert("ns", orphaned)
    assert cache.count_holding("ns", "b") == 1
    assert [s.name for s in cache.managed_at("ns", "b", (), {"app/b"})] == ["b"]
    cache.deleted_by_us("ns", "a")
    assert cache.count_holding("ns", "b") == 0
    assert cache.managed_at("ns", "b", {"a"}, {"app/a"}) == []
