"""The two kinds of backend, said once: FederationBackend and ClusterFederationBackend.

A :class:`BackendKind` is what differs between them: the resource's kind,
plural and scope (and so its REST paths and the resources its API rights
name), the models its spec and status parse into, where a backend of the
kind reads its credentials, the owner key its Secrets carry, and where its
worker puts Secrets (:class:`Placement`: its own namespace, or each namespace
its selector selects). The store, the fleet and its workers, the API's
rights and its cache read these instead of asking which kind they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..labels import (
    CLUSTER_KIND,
    CLUSTER_OWNER_PREFIX,
    CLUSTER_PLURAL,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
)
from .cluster import ClusterBackendSpec, ClusterBackendStatus
from .spec import BackendSpec
from .status import BackendStatus


class Placement(StrEnum):
    """Where a backend's worker writes Secrets."""

    #: the backend's own namespace (its credentials are there too)
    OWN_NAMESPACE = "own-namespace"
    #: each namespace its ``namespaceSelector`` selects, one sync each (its credentials
    #: are in the operator's namespace)
    SELECTED_NAMESPACES = "selected-namespaces"


@dataclass(frozen=True)
class BackendKind:
    #: the resource's kind, plural and API scope on the wire (``namespace``, ``cluster``)
    kind: str
    plural: str
    scope: str
    spec_model: type[BackendSpec]
    status_model: type[BackendStatus]
    placement: Placement
    #: what an answer or a log line calls one
    noun: str
    #: prefixed to the name, the owner key its Secrets' backend label carries
    owner_prefix: str = ""

    def __str__(self) -> str:
        return self.kind

    @property
    def namespaced(self) -> bool:
        return self.placement is Placement.OWN_NAMESPACE

    def owner(self, name: str) -> str:
        """The owner key (the backend label's value) of the Secrets of backend ``name``:
        a FederationBackend's name, or ``cluster_`` and a cluster backend's (no object
        name has an underscore, so the two never meet)."""
        return self.owner_prefix + name

    def home(self, namespace: str, operator_namespace: str) -> str:
        """Where a backend of this kind in ``namespace`` reads its credentials: its own
        namespace, or the operator's for a kind with none."""
        return namespace if self.namespaced else operator_namespace

    def status_namespace(self, namespace: str) -> str | None:
        """How the status names the namespace of a Secret in ``namespace`` (its
        ``secretNames``, its conflicts): not at all when there is only one."""
        return None if self.namespaced else namespace

    def object_namespace(self, namespace: str | None) -> str:
        """The namespace of an object of the kind (``""`` for a cluster-scoped one)."""
        return (namespace or "") if self.namespaced else ""

    def path(self, namespace: str, name: str | None = None) -> str:
        """The REST path of the collection in ``namespace`` (ignored for a cluster-scoped
        kind), or of the object ``name`` there."""
        where = f"namespaces/{namespace}/" if self.namespaced else ""
        base = f"/apis/{GROUP}/{VERSION}/{where}{self.plural}"
        return f"{base}/{name}" if name else base

    def collections(self, namespaces: Sequence[str] = ()) -> list[str]:
        """The collections to list and watch: each of ``namespaces``, or every object of
        the kind when none is named (a cluster-scoped kind has one collection)."""
        if self.namespaced and namespaces:
            return [self.path(namespace) for namespace in namespaces]
        return [f"/apis/{GROUP}/{VERSION}/{self.plural}"]


FEDERATION_BACKEND = BackendKind(
    kind=KIND,
    plural=PLURAL,
    scope="namespace",
    spec_model=BackendSpec,
    status_model=BackendStatus,
    placement=Placement.OWN_NAMESPACE,
    noun="backend",
)
CLUSTER_FEDERATION_BACKEND = BackendKind(
    kind=CLUSTER_KIND,
    plural=CLUSTER_PLURAL,
    scope="cluster",
    spec_model=ClusterBackendSpec,
    status_model=ClusterBackendStatus,
    placement=Placement.SELECTED_NAMESPACES,
    noun="cluster backend",
    owner_prefix=CLUSTER_OWNER_PREFIX,
)
#: every kind, namespaced first
KINDS = (FEDERATION_BACKEND, CLUSTER_FEDERATION_BACKEND)


def kind_of_scope(scope: str) -> BackendKind:
    """The kind whose wire scope is ``scope`` (``namespace`` or ``cluster``)."""
    return next(kind for kind in KINDS if kind.scope == scope)


def owned_by(owner: str) -> tuple[BackendKind, str]:
    """The kind and the name of the backend whose Secrets carry the owner key ``owner``."""
    for kind in KINDS:
        if kind.owner_prefix and owner.startswith(kind.owner_prefix):
            return kind, owner.removeprefix(kind.owner_prefix)
    return FEDERATION_BACKEND, owner
