"""The registry of backend types: the one list, and what is derived from it."""

from __future__ import annotations

from pathlib import Path

from scaivault_federation.backends.registry import (
    TYPES,
    ClientSettings,
    ReceiverSettings,
    config_model,
    container_fields,
    quiet_loggers,
    receivers,
    type_names,
)
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import ApiSettings, BackendSettings

ROOT = Path(__file__).resolve().parents[2]


def test_every_type_is_listed_once() -> None:
    names = [t.name for t in TYPES]
    assert len(names) == len(set(names)) == len(type_names())
    for declared in TYPES:
        assert config_model(declared.name) is declared.config
    assert config_model("no-such-type") is None


def test_every_types_settings_are_part_of_the_settings() -> None:
    for declared in TYPES:
        for part, composed, group in (
            (declared.client_settings, ClientSettings, BackendSettings),
            (declared.receiver_settings, ReceiverSettings, ApiSettings),
        ):
            if part is not None:
                assert issubclass(composed, part), declared.name
                assert issubclass(group, part), declared.name


def test_the_spec_takes_the_config_of_every_type_and_no_other_type() -> None:
    schema = BackendSpec.model_json_schema(by_alias=True)
    variants = {o["$ref"].rsplit("/", 1)[-1] for o in schema["properties"]["config"]["anyOf"]}
    assert variants == {t.config.__name__ for t in TYPES}
    assert schema["properties"]["type"]["enum"] == [t.name for t in TYPES]


def test_derived_tables() -> None:
    assert container_fields()["azure-key-vault"] == {"vaultUrl": "vault_url"}
    assert {"hvac", "botocore", "azure", "google"} <= set(quiet_loggers())


def test_the_receivers_are_the_declared_ones() -> None:
    paths = [r.path for r in receivers()]
    assert paths == [t.receiver.path for t in TYPES if t.receiver is not None]
    assert len(set(paths)) == len(paths)


def test_every_type_has_its_page_naming_each_config_key_and_a_readme_row() -> None:
    readme = (ROOT / "README.md").read_text()
    for declared in TYPES:
        package = declared.config.__module__.split(".")[-2]
        page = ROOT / "docs" / "backends" / f"{package}.md"
        assert page.is_file(), f"no {page.relative_to(ROOT)} for {declared.name}"
        text = page.read_text()
        assert f"`{declared.name}`" in text
        for name in declared.config.model_fields:
            key = declared.config.cr_name(name)
            assert f"`{key}`" in text, f"{page.name} does not name spec.config.{key}"
        assert f"| `{declared.name}` |" in readme and f"(docs/backends/{package}.md)" in readme
