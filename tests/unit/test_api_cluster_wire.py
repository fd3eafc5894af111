"""The wire shape of cluster backends: which POST bodies make one, the errors naming
their field, and the apiserver's field names in the API's spelling."""

from __future__ import annotations

from typing import Any

import pytest

from scaivault_federation.models.api import (
    FieldError,
    api_field,
    apply_patch,
    backend_view,
    parse_create,
    status_view,
)
from scaivault_federation.models.cluster import ClusterBackendSpec, ClusterBackendStatus
from scaivault_federation.models.status import BackendStatus


def body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "platform",
        "type": "hashicorp-vault",
        "config": {"endpoint": "https://vault.example", "auth_config_path": "a/b"},
        "path_mapping": {"t/{namespace}/**": "s/{namespace}/**"},
        "mode": "proxy",
        **extra,
    }


def test_scope_or_a_selector_makes_a_cluster_backend() -> None:
    choices: list[dict[str, Any]] = [{"scope": "cluster", "namespace_selector": {}}]
    for extra in [*choices, {"namespace_selector": {}}]:
        new = parse_create(body(**extra))
        assert new.cluster and new.namespace is None
        assert isinstance(new.spec, ClusterBackendSpec)
        assert new.spec.to_cr()["namespaceSelector"] == {"matchLabels": {}, "matchExpressions": []}
    plain = parse_create(body(namespace="team-a", scope="namespace"))
    assert not plain.cluster and plain.namespace == "team-a"
    assert not isinstance(plain.spec, ClusterBackendSpec)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"scope": "cluster"}, "namespace_selector"),
        ({"scope": "cluster", "namespace": "a", "namespace_selector": {}}, "namespace"),
        ({"scope": "namespace", "namespace_selector": {}}, "namespace_selector"),
        ({"scope": "everywhere"}, "scope"),
        ({"namespace_selector": {"match_labels": {"a": 1}}}, "namespace_selector.match_labels.a"),
        ({"namespace_selector": {"matchLabels": {}}}, "namespace_selector.matchLabels"),
    ],
)
def test_bad_bodies_name_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_create(body(**extra))
    assert caught.value.field == field
    assert field in caught.value.message


def test_the_view_and_a_patch_of_a_cluster_backend() -> None:
    spec = parse_create(body(namespace_selector={"match_labels": {"t": "x"}})).spec
    view = backend_view("fed_1", "platform", None, spec.to_api())
    assert view["scope"] == "cluster" and view["namespace"] is None
    assert view["namespace_selector"] == {"match_labels": {"t": "x"}, "match_expressions": []}
    patched, new_view = apply_patch(view, {"namespace_selector": {"match_labels": {"u": "y"}}})
    assert patched.to_cr()["namespaceSelector"]["matchLabels"] == {"t": "x", "u": "y"}
    assert new_view["scope"] == "cluster"
    for change, field in (({"scope": "namespace"}, "scope"), ({"namespace": "a"}, "namespace")):
        with pytest.raises(FieldError) as caught:
            apply_patch(view, change)
        assert caught.value.field == field


def test_status_views() -> None:
    plain = status_view("fed_1", "x", BackendStatus())
    assert "namespaces" not in plain and "namespace_count" not in plain
    cluster = ClusterBackendStatus.model_validate(
        {"namespaces": [{"name": "a", "secretsSynced": 2, "conflictCount": 1}]}
    )
    view = status_view("fed_1", "x", cluster)
    assert view["namespace_count"] == 1
    assert view["namespaces"] == [{"name": "a", "secrets_synced": 2, "conflict_count": 1}]


@pytest.mark.parametrize(
    ("field", "message", "expected"),
    [
        ("spec.config.authConfigPath", "", "config.auth_config_path"),
        ("spec.namespaceSelector.matchLabels.team", "", "namespace_selector.match_labels.team"),
        (
            "spec.namespaceSelector.matchExpressions[0].values",
            "",
            "namespace_selector.match_expressions.0.values",
        ),
        ("spec", "spec.syncInterval is required when spec.mode is sync", "sync_interval"),
        ("", "nothing named", None),
    ],
)
def test_apiserver_fields_in_the_apis_spelling(
    field: str, message: str, expected: str | None
) -> None:
    assert api_field(field, message) == expected
