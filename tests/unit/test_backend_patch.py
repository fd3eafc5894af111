"""The API's merge patch names every field of a backend's spec: a spec field added
without it would make the OpenAPI document refuse it in a PATCH body. The patch is
derived from the spec models; the drift check proves it on a spec with a new field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, create_model

from scaivault_federation.models.api import BackendPatch, merge_patch_model, patch_type
from scaivault_federation.models.cluster import ClusterBackendSpec
from scaivault_federation.models.spec import BackendSpec

#: what a patch names beside the spec: who the backend is
IDENTITY = {"name", "namespace", "scope"}


def drift(patch: type[BaseModel], *specs: type[BaseModel]) -> set[str]:
    """The fields the patch and the specs (with the identity) do not share."""
    spec_fields = {name for spec in specs for name in spec.model_fields}
    return set(patch.model_fields) ^ (spec_fields | IDENTITY)


def test_the_patch_names_every_spec_field_and_nothing_else() -> None:
    assert drift(BackendPatch, BackendSpec, ClusterBackendSpec) == set()


def test_a_spec_field_added_without_its_patch_counterpart_is_drift() -> None:
    extended = create_model("ExtendedSpec", __base__=BackendSpec, rotation_window=(str, "1h"))
    # a patch written by hand for the spec as it was misses the new field
    assert drift(BackendPatch, extended, ClusterBackendSpec) == {"rotation_window"}
    # the patch derived from the spec has it, nullable and optional
    derived = merge_patch_model("ExtendedPatch", BackendPatch, extended, ClusterBackendSpec)
    assert drift(derived, extended, ClusterBackendSpec) == set()
    assert derived.model_validate({"rotation_window": None}).model_dump(exclude_unset=True) == {
        "rotation_window": None
    }
    with pytest.raises(ValidationError, match="rotation_window"):
        derived.model_validate({"rotation_window": 3})


def test_every_patch_field_may_be_left_out_or_nulled() -> None:
    for name, field in BackendPatch.model_fields.items():
        assert field.default is None, name
        assert BackendPatch.model_validate({name: None}).model_dump(exclude_unset=True) == {
            name: None
        }


def test_objects_are_patched_in_part_maps_lose_keys_lists_are_replaced() -> None:
    patch = BackendPatch.model_validate(
        {
            "config": {"endpoint": "https://vault.example:8200"},  # a part of the config
            "target": {"type": None},
            "namespace_selector": {"match_labels": {"team": None}},
            "path_mapping": {"old/*": None, "new/*": "kv/new/*"},
            "rollout_restart_targets": [{"kind": "Deployment", "name": "web"}],
            "mode": "proxy",
        }
    )
    assert patch.model_dump(exclude_unset=True)["path_mapping"] == {
        "old/*": None,
        "new/*": "kv/new/*",
    }
    wrong_values = ({"mode": "sometimes"}, {"prune": "maybe"}, {"config": "x"}, {"unknown": 1})
    for wrong in (*wrong_values, {"type": "no-such-type"}):  # a scalar keeps the spec's rules
        with pytest.raises(ValidationError):
            BackendPatch.model_validate(wrong)


@pytest.mark.parametrize(
    ("annotation", "patched"),
    [
        (str | None, str),
        (BackendSpec, dict[str, Any]),
        (BackendSpec | ClusterBackendSpec, dict[str, Any]),
        (list[BackendSpec] | None, list[dict[str, Any]]),
        (dict[str, str], dict[str, str | None]),
        (int | str, int | str),
    ],
)
def test_patch_types(annotation: Any, patched: Any) -> None:
    assert patch_type(annotation) == patched
