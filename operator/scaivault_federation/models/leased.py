"""A FederationLease or FederationCertificate as read from the apiserver, and what
differs between the two kinds (:class:`LeasedKind`): the kind, its REST paths, its
models, the label its Secrets carry.

As for backends, the spec is ``None`` when the models reject it and
``spec_error`` says why, naming the fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..labels import (
    CERTIFICATE_KIND,
    CERTIFICATE_LABEL,
    CERTIFICATE_PLURAL,
    GROUP,
    LEASE_KIND,
    LEASE_LABEL,
    LEASE_PLURAL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    VERSION,
)
from .lease import CertificateSpec, LeasedSpec, LeaseSpec
from .lease_status import CertificateStatus, LeasedStatus, LeaseStatus
from .resource import Named, ObjectMeta, parse_spec, parse_status

SpecT = TypeVar("SpecT", bound=LeasedSpec)
StatusT = TypeVar("StatusT", bound=LeasedStatus)


@dataclass(frozen=True)
class LeasedKind(Generic[SpecT, StatusT]):
    kind: str
    plural: str
    spec_model: type[SpecT]
    status_model: type[StatusT]
    #: the label naming the resource on the Secret it writes
    secret_label: str

    def __str__(self) -> str:
        return self.kind

    def path(self, namespace: str, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{name}" if name else base

    def collections(self, namespaces: Sequence[str] = ()) -> list[str]:
        """The collections to list and watch: each of ``namespaces``, else all."""
        if namespaces:
            return [self.path(namespace) for namespace in namespaces]
        return [f"/apis/{GROUP}/{VERSION}/{self.plural}"]

    def owner_labels(self, name: str) -> dict[str, str]:
        """The labels of the Secret the resource ``name`` writes."""
        return {MANAGED_BY: MANAGED_BY_VALUE, self.secret_label: name}

    def owns(self, labels: Mapping[str, str], name: str) -> bool:
        """Whether a Secret with ``labels`` is the one the resource ``name`` wrote."""
        return labels.get(MANAGED_BY) == MANAGED_BY_VALUE and labels.get(self.secret_label) == name

    def parse(self, obj: Mapping[str, Any]) -> LeasedResource[SpecT, StatusT]:
        raw_spec = dict(obj.get("spec") or {})
        spec, error = parse_spec(self.spec_model, raw_spec)
        status = parse_status(self.status_model, obj.get("status"))
        return LeasedResource(self, ObjectMeta.from_object(obj), spec, status, raw_spec, error)


@dataclass(frozen=True)
class LeasedResource(Named, Generic[SpecT, StatusT]):
    kind: LeasedKind[SpecT, StatusT]
    metadata: ObjectMeta
    spec: SpecT | None = field(repr=False)
    status: StatusT = field(repr=False)
    raw_spec: Mapping[str, Any] = field(default_factory=dict, repr=False)
    spec_error: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.name}"


FEDERATION_LEASE: LeasedKind[LeaseSpec, LeaseStatus] = LeasedKind(
    kind=LEASE_KIND,
    plural=LEASE_PLURAL,
    spec_model=LeaseSpec,
    status_model=LeaseStatus,
    secret_label=LEASE_LABEL,
)
FEDERATION_CERTIFICATE: LeasedKind[CertificateSpec, CertificateStatus] = LeasedKind(
    kind=CERTIFICATE_KIND,
    plural=CERTIFICATE_PLURAL,
    spec_model=CertificateSpec,
    status_model=CertificateStatus,
    secret_label=CERTIFICATE_LABEL,
)
LeaseResource = LeasedResource[LeaseSpec, LeaseStatus]
CertificateResource = LeasedResource[CertificateSpec, CertificateStatus]


def status_to_cr(status: LeasedStatus | BaseModel) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")
