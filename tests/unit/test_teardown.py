"""What deleting a FederationBackend does to the Secrets it synced."""

from __future__ import annotations

from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.labels import (
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
)
from scaivault_federation.models.spec import DeletionPolicy
from scaivault_federation.sync.service import SyncContext, run_sync
from scaivault_federation.sync.teardown import teardown
from tests.unit.engine_fakes import (
    MAC_KEY,
    NAME,
    NAMESPACE,
    MemorySecretStorage,
    managed_secret,
    spec_of,
    unmanaged_secret,
)


async def synced_store() -> MemorySecretStorage:
    """Two synced Secrets (one of them orphaned), one of another backend, one by hand."""
    store = MemorySecretStorage()
    backend = FakeBackend({"prod/a": "1", "prod/b": "2"})
    ctx = SyncContext(NAMESPACE, NAME, spec_of(), backend, store, MAC_KEY)
    await run_sync(ctx)
    backend.delete("prod/b")
    await run_sync(ctx)
    store.put(NAMESPACE, managed_secret("app-c", "app/c", {"value": b"3"}, backend="vault-prod"))
    store.put(NAMESPACE, unmanaged_secret("mine", {"value": b"4"}))
    store.reset_counts()
    return store


async def test_delete_policy_deletes_the_backends_secrets_only() -> None:
    store = await synced_store()

    count = await teardown(store, NAMESPACE, NAME, DeletionPolicy.DELETE)

    assert count == 2
    assert sorted(store.deleted) == ["app-a", "app-b"]
    assert store.names(NAMESPACE) == ["app-c", "mine"]


async def test_retain_policy_keeps_the_secrets_without_management_labels() -> None:
    store = await synced_store()
    before = store.data(NAMESPACE)

    count = await teardown(store, NAMESPACE, NAME, DeletionPolicy.RETAIN)

    assert count == 2 and store.deleted == [] and store.calls["release"] == 2
    assert store.data(NAMESPACE) == before
    for name, path in (("app-a", "app/a"), ("app-b", "app/b")):
        secret = store.secret(NAMESPACE, name)
        assert secret is not None
        assert secret.managed_by is None and secret.labels == {}
        assert secret.annotations.get(PATH_ANNOTATION) == path
        assert REMOTE_PATH_ANNOTATION in secret.annotations
        for dropped in (SOURCE_MAC_ANNOTATION, REMOTE_VERSION_ANNOTATION, ORPHANED_AT_ANNOTATION):
            assert dropped not in secret.annotations
    other = store.secret(NAMESPACE, "app-c")
    assert other is not None and other.managed_by == "vault-prod"
    assert await store.list_managed(NAMESPACE, NAME) == []
