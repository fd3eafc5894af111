"""What the sync engine needs from the outside, as protocols.

The Kubernetes stores (:mod:`..k8s`) satisfy them in the operator; the unit
tests hand the engine in-memory ones. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from ..backends.base import SecretBackend
from ..models.resource import FederationBackendResource, ObjectMeta
from ..models.rollout import WorkloadKind
from ..models.secret import LocalSecret, SecretShape
from ..models.spec import BackendSpec
from ..models.status import BackendStatus


class SecretStorage(Protocol):
    """The Secrets of a namespace, as the engine reads and writes them."""

    async def list_managed(self, namespace: str, backend_name: str) -> list[LocalSecret]: ...

    async def managed_at(
        self, namespace: str, backend_name: str, names: Collection[str], paths: Collection[str]
    ) -> list[LocalSecret]:
        """This backend's Secrets named one of ``names`` or holding one of ``paths``
        (what a sync of some paths acts on), without reading the others."""
        ...

    async def count_holding(self, namespace: str, backend_name: str) -> int:
        """How many of this backend's Secrets hold a path and are not orphaned."""
        ...

    async def get(self, namespace: str, name: str) -> LocalSecret | None: ...

    async def write_synced(
        self,
        namespace: str,
        name: str,
        *,
        backend_name: str,
        path: str,
        remote_path: str,
        remote_version: str | None,
        data: Mapping[str, bytes],
        mac: str,
        existing: LocalSecret | None,
        shape: SecretShape | None = None,
    ) -> None: ...

    async def mark_orphaned(self, namespace: str, name: str) -> None: ...

    async def delete(self, namespace: str, name: str, resource_version: str | None) -> None: ...

    async def release(self, namespace: str, names: Iterable[str]) -> None: ...


class StatusWriter(Protocol):
    async def write_status(
        self, resource: FederationBackendResource, status: BackendStatus
    ) -> None:
        """Replace the status of the backend ``resource`` (of its kind)."""
        ...


class Finalizers(Protocol):
    async def set_finalizers(
        self,
        resource: FederationBackendResource,
        finalizers: Sequence[str],
        drop: Sequence[str] = (),
    ) -> bool:
        """Make ``finalizers`` the resource's finalizers and remove its annotations
        ``drop``. Guarded by the resource's resourceVersion: False (nothing changed)
        when it is stale."""
        ...


class EventSink(Protocol):
    async def record(
        self, about: ObjectMeta, *, reason: str, message: str, warning: bool = False
    ) -> None: ...


class Workloads(Protocol):
    """Deployments, StatefulSets and DaemonSets of a namespace, restarted on request."""

    async def restart(
        self,
        namespace: str,
        kind: WorkloadKind,
        *,
        name: str | None,
        selector: str | None,
        stamp: str,
    ) -> list[str]: ...


#: makes a logged-in client for a spec in a namespace (credentials read there), for the
#: backend of that owner key (a FederationBackend's name, or a cluster backend's key)
Connector = Callable[[BackendSpec, str, str], Awaitable[SecretBackend]]


class NamespaceSource(Protocol):
    """The cluster's namespaces and their labels, kept current by a watch."""

    async def wait_listed(self) -> None:
        """Return once a full listing is held (before it, no selection is known)."""
        ...

    def labels(self) -> Mapping[str, Mapping[str, str]]:
        """Namespace name -> its labels."""
        ...


class NoNamespaces:
    """The namespaces of an operator that serves no cluster backends: none."""

    async def wait_listed(self) -> None:
        return None

    def labels(self) -> Mapping[str, Mapping[str, str]]:
        return {}
