"""The spec model: one model, both spellings, the same rules as the CRD."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.vault.config import VaultConfig
from scaivault_federation.models.duration import InvalidDurationError, parse_duration
from scaivault_federation.models.spec import BackendSpec, Mode

SEED_HASHICORP = {
    "name": "hashicorp-production",
    "type": "hashicorp-vault",
    "config": {
        "endpoint": "https://vault.internal:8200",
        "auth_method": "approle",
        "auth_config_path": "infra/hashicorp/approle-creds",
        "tls_verify": True,
    },
    "path_mapping": {"external/hashicorp/**": "secret/data/**"},
    "mode": "proxy",
}


def test_seed_example_parses_in_snake_case_and_dumps_camel_case() -> None:
    body = {k: v for k, v in SEED_HASHICORP.items() if k != "name"}
    spec = BackendSpec.model_validate(body)
    assert isinstance(spec.config, VaultConfig)
    cr = spec.to_cr()
    assert cr["pathMapping"] == {"external/hashicorp/**": "secret/data/**"}
    assert cr["config"]["authConfigPath"] == "infra/hashicorp/approle-creds"
    assert BackendSpec.model_validate(cr) == spec
    assert spec.to_api()["config"]["auth_config_path"] == "infra/hashicorp/approle-creds"


def test_sync_mode_needs_an_interval_of_at_least_ten_seconds() -> None:
    base = {
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-1"},
        "pathMapping": {"a/**": "b/**"},
        "mode": "sync",
    }
    with pytest.raises(ValidationError, match="sync_interval is required"):
        BackendSpec.model_validate(base)
    with pytest.raises(ValidationError, match="at least 10s"):
        BackendSpec.model_validate({**base, "syncInterval": "5s"})
    spec = BackendSpec.model_validate({**base, "syncInterval": "15m"})
    assert spec.interval == timedelta(minutes=15) and spec.mode is Mode.SYNC
    assert isinstance(spec.config, AwsConfig)


def test_config_keys_of_another_type_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        BackendSpec.model_validate(
            {
                "type": "hashicorp-vault",
                "config": {"endpoint": "http://v", "region": "us-east-1"},
                "pathMapping": {"a/**": "b/**"},
                "mode": "proxy",
            }
        )
    assert "config.region" in str(caught.value)


def test_bad_mappings_are_rejected() -> None:
    for mapping in ({"a/**": "b/*"}, {"a/../b": "c"}, {"a//b": "c"}, {"db-**": "x/**"}):
        with pytest.raises(ValidationError):
            BackendSpec.model_validate(
                {
                    "type": "google-secret-manager",
                    "config": {"project": "p"},
                    "pathMapping": mapping,
                    "mode": "proxy",
                }
            )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("15m", 900), ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "15", "fifteen", "-5m", "1d", "m5"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(InvalidDurationError):
        parse_duration(text)
