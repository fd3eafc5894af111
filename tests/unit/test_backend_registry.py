"""The registry of backend types: the one list, and what is derived from it."""

from __future__ import annotations

from scaivault_federation.backends.registry import (
    TYPES,
    ClientSettings,
    config_model,
    container_fields,
    quiet_loggers,
    type_names,
)
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import BackendSettings


def test_every_type_is_listed_once() -> None:
    names = [t.name for t in TYPES]
    assert len(names) == len(set(names)) == len(type_names())
    for declared in TYPES:
        assert config_model(declared.name) is declared.config
    assert config_model("no-such-type") is None


def test_every_types_client_settings_are_part_of_the_settings() -> None:
    for declared in TYPES:
        if declared.client_settings is not None:
            assert issubclass(ClientSettings, declared.client_settings), declared.name
            assert issubclass(BackendSettings, declared.client_settings), declared.name


def test_the_spec_takes_the_config_of_every_type_and_no_other_type() -> None:
    schema = BackendSpec.model_json_schema(by_alias=True)
    variants = {o["$ref"].rsplit("/", 1)[-1] for o in schema["properties"]["config"]["anyOf"]}
    assert variants == {t.config.__name__ for t in TYPES}
    assert schema["properties"]["type"]["enum"] == [t.name for t in TYPES]


def test_derived_tables() -> None:
    assert container_fields()["azure-key-vault"] == {"vaultUrl": "vault_url"}
    assert {"hvac", "botocore", "azure", "google"} <= set(quiet_loggers())
