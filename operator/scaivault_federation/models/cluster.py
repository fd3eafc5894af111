"""The ClusterFederationBackend: a FederationBackend's spec plus the namespaces it
writes into (``namespaceSelector``), its status with per-namespace figures.

Its pathMapping may name the target namespace: the literal ``{namespace}`` in a
key or value is replaced by each selected namespace's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field, model_validator

from ..paths import InvalidPathError, PathPattern, parse_mappings
from .base import CamelModel
from .spec import BackendSpec
from .status import BackendStatus, Conflict

NAMESPACE_PLACEHOLDER = "{namespace}"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(CamelModel):
    key: str = Field(min_length=1)
    operator: SelectorOperator
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_values(self) -> SelectorRequirement:
        wants_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if wants_values and not self.values:
            raise ValueError(f"operator {self.operator.value} needs values")
        if not wants_values and self.values:
            raise ValueError(f"operator {self.operator.value} takes no values")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator is SelectorOperator.IN:
            return value is not None and value in self.values
        if self.operator is SelectorOperator.NOT_IN:
            return value is None or value not in self.values
        if self.operator is SelectorOperator.EXISTS:
            return value is not None
        return value is None


class LabelSelector(CamelModel):
    """A standard Kubernetes label selector; the empty one selects every namespace."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[SelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )


def for_namespace(mapping: Mapping[str, str], namespace: str) -> dict[str, str]:
    """The pathMapping with ``{namespace}`` replaced by ``namespace``."""
    return {
        k.replace(NAMESPACE_PLACEHOLDER, namespace): v.replace(NAMESPACE_PLACEHOLDER, namespace)
        for k, v in mapping.items()
    }


class ClusterBackendSpec(BackendSpec):
    namespace_selector: LabelSelector

    @model_validator(mode="after")
    def _check_namespaced_mapping(self) -> ClusterBackendSpec:
        try:
            parse_mappings(for_namespace(self.path_mapping, "namespace"))
        except InvalidPathError as exc:
            raise ValueError(f"path_mapping: {exc}") from None
        return self

    def in_namespace(self, namespace: str) -> BackendSpec:
        """The spec one namespace's sync runs with (the mapping made concrete)."""
        return BackendSpec.model_construct(
            **{
                **{name: getattr(self, name) for name in BackendSpec.model_fields},
                "path_mapping": for_namespace(self.path_mapping, namespace),
            }
        )

    def local_patterns(self) -> tuple[PathPattern, ...]:
        """The mappings' ScaiVault sides with ``{namespace}`` standing for any namespace
        (a ``*``), as a per-path sync may name them."""
        patterns = []
        for key in self.path_mapping:
            try:
                patterns.append(PathPattern(key.replace(NAMESPACE_PLACEHOLDER, "*")))
            except InvalidPathError:  # next to another wildcard: keep it literal
                patterns.append(PathPattern(key))
        return tuple(patterns)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return self.namespace_selector.matches(labels)


class NamespaceStatus(CamelModel):
    name: str
    secrets_synced: int = 0
    conflict_count: int = 0


class ClusterConflict(Conflict):
    namespace: str


class ClusterBackendStatus(BackendStatus):
    # every conflict names its namespace (a subtype of the base's items)
    conflicts: list[ClusterConflict] = Field(default_factory=list)  # type: ignore[assignment]
    namespaces: list[NamespaceStatus] = Field(default_factory=list)
    namespace_count: int | None = None


def cluster_spec(spec: BackendSpec | None) -> ClusterBackendSpec | None:
    """``spec`` as a ClusterFederationBackend's, or ``None`` (a FederationBackend's, or
    an invalid spec)."""
    return spec if isinstance(spec, ClusterBackendSpec) else None


def cluster_status(status: BackendStatus) -> ClusterBackendStatus:
    """``status`` as a ClusterFederationBackend's (a FederationBackend's lists no
    namespaces)."""
    if isinstance(status, ClusterBackendStatus):
        return status
    return ClusterBackendStatus.model_validate(status.to_cr())
