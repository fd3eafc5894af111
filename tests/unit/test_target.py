"""spec.target: the models that check it and the pure shaping of a value into a Secret."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from scaivault_federation.models.api import FieldError, spec_from_api
from scaivault_federation.models.secret import LocalSecret, SecretShape, merge_metadata
from scaivault_federation.models.shape import (
    PathContext,
    ShapeError,
    secret_name,
    shape_data,
    shape_secret,
)
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.models.target import DataShape, RefreshPolicy, Target, resolve_target

CANARY = "target-canary-51d0a2"
WHERE = PathContext("registry/web", "docker/web", ("web",))


def target(**fields: Any) -> Target:
    return Target.model_validate(fields)


def problem(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Target.model_validate(fields)
    return str(caught.value)


# --- the models ------------------------------------------------------------------


def test_rules_override_the_target_first_match_wins() -> None:
    t = target(
        type="kubernetes.io/tls",
        labels={"team": "payments", "tier": "a"},
        immutable=True,
        rules=[
            {
                "path": "registry/*",
                "type": "kubernetes.io/dockerconfigjson",
                "labels": {"tier": "b"},
            },
            {"path": "registry/web", "type": "Opaque"},
            {"path": "db-*/**", "version": "3"},
        ],
    )
    web = t.for_path("registry/web")
    assert web.type == "kubernetes.io/dockerconfigjson"
    assert web.labels == {"team": "payments", "tier": "b"}
    assert web.immutable is True
    assert t.for_path("db-main/pw").version == "3"
    other = t.for_path("apps/x")
    assert other.type == "kubernetes.io/tls" and other.version is None
    assert resolve_target(None, "apps/x").type == "Opaque"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"type": "kubernetes.io/service-account-token"}, "is not allowed"),
        ({"type": "not a type"}, "Secret type"),
        ({"rules": [{"path": "a", "type": "kubernetes.io/service-account-token"}]}, "rules.0.type"),
        ({"labels": {"not a key": "x"}}, "not a valid label key"),
        ({"labels": {"app.kubernetes.io/managed-by": "me"}}, "set by the operator"),
        ({"annotations": {"federation.scaivault.io/path": "x"}}, "set by the operator"),
        ({"labels": {"federation.scaivault.io/backend": "x"}}, "set by the operator"),
        ({"annotations": {"federation.scaivault.io/credentials": "true"}}, "set by the operator"),
        ({"labels": {"team": "has spaces"}}, "not a valid label value"),
        ({"labels": {"team": "{{ path "}}, "does not parse"),
        ({"data": {"rename": {"cert": "tls/crt"}}}, "'tls/crt' is not a valid Secret data key"),
        ({"data": {"rename": {"a": "x", "b": "x"}}}, "renamed onto 'x'"),
        ({"data": {"template": {"tls crt": "{{ data.cert }}"}}}, "not a valid Secret data key"),
        ({"data": {"template": {"tls.crt": "{{ data.cert "}}}, "does not parse"),
        ({"data": {"template": {"k": "{% for x in data %}{% endfor %}"}}}, "for loop"),
        ({"data": {"key": "x"}}, "only used with extract: whole"),
        ({"data": {"decodeKeys": ["x"]}}, "needs decode"),
        ({"data": {"include": ["a/b"]}}, "not a key name or glob"),
        ({"name": "{{ data.user }}"}, "may use only path, remote_path, captures"),
        ({"rules": [{"path": "a/**b"}]}, "nothing between them"),
        ({"refreshPolicy": "Never"}, "refreshPolicy"),
    ],
)
def test_invalid_targets_are_refused_naming_the_field(
    fields: dict[str, Any], fragment: str
) -> None:
    assert fragment in problem(**fields)


def test_a_synced_secret_may_be_labelled_a_credentials_secret() -> None:
    target = Target.model_validate({"labels": {"federation.scaivault.io/credentials": "true"}})
    assert target.for_path("keys/reader").labels == {"federation.scaivault.io/credentials": "true"}


def test_the_api_speaks_snake_case_and_names_the_field() -> None:
    body: dict[str, Any] = {
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-1"},
        "path_mapping": {"registry/*": "docker/*"},
        "mode": "sync",
        "sync_interval": "1m",
        "target": {
            "type": "kubernetes.io/dockerconfigjson",
            "refresh_policy": "OnChange",
            "data": {"extract": "whole", "key": ".dockerconfigjson"},
        },
        "rollout_restart_targets": [{"kind": "Deployment", "name": "api", "min_interval": "30s"}],
    }
    spec = spec_from_api(body)
    assert spec.target is not None and spec.target.policy is RefreshPolicy.ON_CHANGE
    assert spec.to_cr()["target"]["refreshPolicy"] == "OnChange"
    assert spec.to_cr()["rolloutRestartTargets"] == [
        {"kind": "Deployment", "name": "api", "minInterval": "30s"}
    ]
    assert spec.to_api()["target"]["refresh_policy"] == "OnChange"
    bad = {**body, "target": {"data": {"rename": {"cert": "tls/crt"}}}}
    with pytest.raises(FieldError) as caught:
        spec_from_api(bad)
    assert caught.value.field == "target.data.rename"
    camel = {**body, "target": {"refreshPolicy": "OnChange"}}
    with pytest.raises(FieldError) as caught:
        spec_from_api(camel)
    assert caught.value.field == "target.refreshPolicy"


def test_a_cr_with_a_broken_template_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        BackendSpec.model_validate(
            {
                "type": "google-secret-manager",
                "config": {"project": "p"},
                "pathMapping": {"gcp/*": "prod-*"},
                "mode": "sync",
                "syncInterval": "1m",
                "target": {"data": {"template": {"tls.crt": "{{ data.cert "}}},
            }
        )
    assert "target.data.template" in str(caught.value)


# --- shaping -------------------------------------------------------------------


def test_without_data_the_default_rule_stands() -> None:
    assert shape_data(None, '{"user": "u", "password": "p"}', WHERE) == {
        "user": b"u",
        "password": b"p",
    }
    assert shape_data(None, '{"auths": {}}', WHERE) == {"value": b'{"auths": {}}'}


def test_a_docker_config_whole() -> None:
    config = json.dumps({"auths": {"registry.example.com": {"auth": CANARY}}})
    t = target(
        type="kubernetes.io/dockerconfigjson", data={"extract": "whole", "key": ".dockerconfigjson"}
    ).for_path("registry/web")
    shaped = shape_secret(t, config, WHERE)
    assert shaped.data == {".dockerconfigjson": config.encode()}
    assert shaped.shape.type == "kubernetes.io/dockerconfigjson"


def test_a_service_account_key_whole_as_credentials_json() -> None:
    key = json.dumps({"type": "service_account", "private_key": CANARY, "client_email": "a@b"})
    shape = DataShape.model_validate({"extract": "whole", "key": "credentials.json"})
    assert shape_data(shape, key, WHERE) == {"credentials.json": key.encode()}


def test_tls_from_two_fields_by_template_or_rename() -> None:
    value: dict[str, object] = {"cert": "CERT", "key": CANARY, "note": "n"}
    by_template = target(
        type="kubernetes.io/tls",
        data={"template": {"tls.crt": "{{ data.cert }}", "tls.key": "{{ data.key }}"}},
    ).for_path("x")
    assert shape_secret(by_template, value, WHERE).data == {
        "tls.crt": b"CERT",
        "tls.key": CANARY.encode(),
    }
    by_rename = target(
        type="kubernetes.io/tls",
        data={"include": ["cert", "key"], "rename": {"cert": "tls.crt", "key": "tls.key"}},
    ).for_path("x")
    assert shape_secret(by_rename, value, WHERE).data == {
        "tls.crt": b"CERT",
        "tls.key": CANARY.encode(),
    }


def test_include_exclude_rename_decode_in_order() -> None:
    value: dict[str, object] = {
        "ca": base64.b64encode(b"CA").decode(),
        "ca-old": "x",
        "cert": base64.b64encode(b"\x00\xff").decode() + "\n",
        "other": "o",
    }
    shape = DataShape.model_validate(
        {
            "include": ["ca*", "cert"],
            "exclude": ["*-old"],
            "rename": {"ca": "ca.crt"},
            "decode": "base64",
        }
    )
    assert shape_data(shape, value, WHERE) == {"ca.crt": b"CA", "cert": b"\x00\xff"}
    only = DataShape.model_validate({"decode": "base64", "decodeKeys": ["ca"]})
    two: dict[str, object] = {"ca": "Q0E=", "plain": "p"}
    assert shape_data(only, two, WHERE) == {"ca": b"CA", "plain": b"p"}


def test_fields_of_a_nested_object_are_json_text() -> None:
    shape = DataShape.model_validate({"extract": "fields"})
    data = shape_data(shape, '{"name": "c", "config": {"bearerToken": "t"}, "n": 1}', WHERE)
    assert data == {"name": b"c", "config": b'{"bearerToken": "t"}', "n": b"1"}


def test_labels_annotations_and_name_are_rendered() -> None:
    t = target(
        labels={"team": "payments", "app": "{{ captures[0] }}"},
        annotations={"source": "{{ remote_path }}", "reloader.stakater.com/match": "true"},
        name="{{ captures[0] }}-pull",
    ).for_path("registry/web")
    shaped = shape_secret(t, {"a": "b"}, WHERE)
    assert shaped.shape.labels == {"team": "payments", "app": "web"}
    assert shaped.shape.annotations["source"] == "docker/web"
    assert secret_name(t, WHERE) == "web-pull"


DOCKER_WHOLE = {"extract": "whole", "key": ".dockerconfigjson"}
TEMPLATE_ABSENT = {"template": {"k": "{{ data.absent }}"}}


@pytest.mark.parametrize(
    ("fields", "value", "fragment"),
    [
        ({"type": "kubernetes.io/tls"}, {"cert": "c", "key": CANARY}, "needs the key(s) tls.crt"),
        ({"type": "kubernetes.io/dockerconfigjson", "data": DOCKER_WHOLE}, CANARY, "hold JSON"),
        ({"type": "kubernetes.io/basic-auth"}, {"token": CANARY}, "username or password"),
        ({"data": TEMPLATE_ABSENT}, {"a": CANARY}, "no attribute 'absent'"),
        ({"data": {"decode": "base64"}}, {"a": CANARY}, "'a' is not base64"),
        ({"data": {"rename": {"a": "b"}}}, {"a": CANARY, "b": "x"}, "already has a key 'b'"),
        ({"labels": {"v": "{{ data.a }}"}}, {"a": "not a label " + CANARY}, "no valid label"),
        ({"name": "{{ path }}"}, {"a": "b"}, "not a valid Secret name"),
    ],
)
def test_shaping_failures_name_the_key_never_a_value(
    fields: dict[str, Any], value: Any, fragment: str
) -> None:
    t = target(**fields).for_path("registry/web")
    with pytest.raises(ShapeError) as caught:
        secret_name(t, WHERE)
        shape_secret(t, value, WHERE)
    assert fragment in caught.value.message
    assert CANARY not in caught.value.message


def test_metadata_keeps_hand_added_labels_and_drops_undeclared_ones() -> None:
    first = SecretShape(labels={"team": "a", "old": "x"}, annotations={"note": "n"})
    labels, annotations = merge_metadata(None, first)
    written = LocalSecret(
        "s", {}, labels={**labels, "by-hand": "kept"}, annotations={**annotations, "mine": "m"}
    )
    second = SecretShape(labels={"team": "b"})
    labels, annotations = merge_metadata(written, second)
    assert labels == {"team": "b", "by-hand": "kept"}
    assert "note" not in annotations and annotations["mine"] == "m"
    labels, annotations = merge_metadata(
        LocalSecret("s", {}, labels=labels, annotations=annotations), None
    )
    assert labels == {"by-hand": "kept"}
