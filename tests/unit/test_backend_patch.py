"""The API's merge patch names every field of a backend's spec: a spec field added
without it would make the OpenAPI document refuse it in a PATCH body."""

from __future__ import annotations

from scaivault_federation.models.api import BackendPatch
from scaivault_federation.models.cluster import ClusterBackendSpec
from scaivault_federation.models.spec import BackendSpec

#: what a patch names beside the spec: who the backend is
IDENTITY = {"name", "namespace", "scope"}


def test_the_patch_names_every_spec_field_and_nothing_else() -> None:
    spec_fields = set(BackendSpec.model_fields) | set(ClusterBackendSpec.model_fields)
    assert set(BackendPatch.model_fields) == spec_fields | IDENTITY


def test_every_patch_field_may_be_left_out_or_nulled() -> None:
    for name, field in BackendPatch.model_fields.items():
        assert field.default is None, name
        assert BackendPatch.model_validate({name: None}).model_dump(exclude_unset=True) == {
            name: None
        }
