"""What happens to synced Secrets when their FederationBackend is deleted."""

from __future__ import annotations

from ..models.spec import DeletionPolicy
from .ports import SecretStorage


async def teardown(store: SecretStorage, namespace: str, name: str, policy: DeletionPolicy) -> int:
    """``Delete`` removes the managed Secrets; ``Retain`` keeps them unmanaged. Returns how many."""
    managed = await store.list_managed(namespace, name)
    if policy is DeletionPolicy.DELETE:
        for secret in managed:
            await store.delete(namespace, secret.name, None)
    else:
        await store.release(namespace, [s.name for s in managed])
    return len(managed)
