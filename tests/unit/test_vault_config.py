"""Vault auth-method fields in the config model: each method takes its own fields
and the others are rejected, naming the field, in either spelling."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scaivault_federation.backends.vault.config import (
    METHOD_FIELDS,
    GcpAuthType,
    VaultAuthMethod,
    VaultConfig,
)
from scaivault_federation.models.api import FieldError, spec_from_api
from scaivault_federation.models.base import describe_errors
from scaivault_federation.models.spec import BackendSpec

HTTPS = "https://vault.internal:8200"

ACCEPTED: dict[str, dict[str, Any]] = {
    "token": {"authMethod": "token", "authConfigPath": "infra/token"},
    "approle": {"authMethod": "approle", "authMount": "ci", "authConfigPath": "a/b"},
    "kubernetes": {
        "authMethod": "kubernetes",
        "role": "r",
        "serviceAccount": "sync",
        "audience": "vault",
    },
    "jwt": {"authMethod": "jwt", "role": "r", "serviceAccount": "sync", "audience": "vault"},
    "userpass": {"authMethod": "userpass", "authMount": "people", "authConfigPath": "a/b"},
    "ldap": {"authMethod": "ldap", "authConfigPath": "a/b"},
    "cert": {"authMethod": "cert", "role": "web", "authConfigPath": "a/tls"},
    "aws": {
        "authMethod": "aws",
        "role": "reader",
        "stsRegion": "eu-west-1",
        "iamServerIdHeader": "vault.internal",
    },
    "gcp-iam": {"authMethod": "gcp", "role": "r", "gcpAuthType": "iam", "authConfigPath": "a/b"},
    "gcp-gce": {"authMethod": "gcp", "role": "r", "gcpAuthType": "gce"},
}


@pytest.mark.parametrize("config", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_each_method_takes_its_fields_and_round_trips(config: dict[str, Any]) -> None:
    parsed = VaultConfig.model_validate({"endpoint": HTTPS, **config})
    assert parsed.to_cr() == {"endpoint": HTTPS, "tlsVerify": True, **config}
    assert VaultConfig.model_validate(parsed.to_api()) == parsed


def test_every_method_field_is_in_the_model() -> None:
    assert set(METHOD_FIELDS) <= set(VaultConfig.model_fields)
    assert set(VaultAuthMethod) == {
        "token",
        "approle",
        "kubernetes",
        "jwt",
        "userpass",
        "ldap",
        "cert",
        "aws",
        "gcp",
    }
    assert set(GcpAuthType) == {"iam", "gce"}


@pytest.mark.parametrize(
    ("config", "field", "method"),
    [
        ({"audience": "vault"}, "audience", "token"),
        ({"authMethod": "approle", "role": "r"}, "role", "approle"),
        ({"authMethod": "token", "authMount": "token"}, "authMount", "token"),
        ({"authMethod": "userpass", "serviceAccount": "sync"}, "serviceAccount", "userpass"),
        ({"authMethod": "gcp", "role": "r", "stsRegion": "us-east-1"}, "stsRegion", "gcp"),
        ({"authMethod": "jwt", "iamServerIdHeader": "v"}, "iamServerIdHeader", "jwt"),
        ({"authMethod": "aws", "gcpAuthType": "iam"}, "gcpAuthType", "aws"),
        ({"authMethod": "ldap", "audience": "vault"}, "audience", "ldap"),
    ],
)
def test_a_field_of_another_method_is_rejected_naming_it(
    config: dict[str, Any], field: str, method: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        BackendSpec.model_validate(
            {
                "type": "hashicorp-vault",
                "config": {"endpoint": HTTPS, **config},
                "pathMapping": {"a/**": "secret/data/**"},
                "mode": "proxy",
            }
        )
    message = describe_errors(caught.value, prefix="spec")
    assert f"config.{field}: Value error, is not valid with auth method {method!r}" in message


def test_the_api_names_the_field_in_snake_case() -> None:
    body = {
        "type": "hashicorp-vault",
        "config": {"endpoint": HTTPS, "auth_method": "approle", "service_account": "sync"},
        "path_mapping": {"a/**": "secret/data/**"},
        "mode": "proxy",
    }
    with pytest.raises(FieldError) as caught:
        spec_from_api(body)
    assert caught.value.field == "config.service_account"
    assert "is not valid with auth method 'approle'" in caught.value.message


def test_cert_auth_needs_an_https_endpoint() -> None:
    with pytest.raises(ValidationError, match="cert needs an https endpoint") as caught:
        VaultConfig.model_validate({"endpoint": "http://vault:8200", "authMethod": "cert"})
    assert caught.value.errors()[0]["loc"] == ("authMethod",)


def test_gce_auth_takes_no_credentials_secret() -> None:
    with pytest.raises(ValidationError, match="is not valid with GCE auth") as caught:
        VaultConfig.model_validate(
            {
                "endpoint": HTTPS,
                "authMethod": "gcp",
                "role": "r",
                "gcpAuthType": "gce",
                "authConfigPath": "a/b",
            }
        )
    assert caught.value.errors()[0]["loc"] == ("authConfigPath",)


def test_rejections_never_echo_the_value() -> None:
    canary = "audience-canary-93d1"
    with pytest.raises(ValidationError) as caught:
        VaultConfig.model_validate({"endpoint": HTTPS, "audience": canary})
    assert canary not in describe_errors(caught.value)
