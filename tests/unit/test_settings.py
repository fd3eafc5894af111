"""The one settings model: environment, flags over it, clear errors, the README table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scaivault_federation.backends.azure.settings import AzureSettings
from scaivault_federation.cli import _parser, _settings
from scaivault_federation.settings import InvalidSettingsError, Settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIVAULT_KUBE_WRITE_QPS", "7.5")
    monkeypatch.setenv("SCAIVAULT_ALLOWED_ENDPOINTS", " Vault.internal , *.vault.azure.net,")
    monkeypatch.setenv("SCAIVAULT_WATCH_NAMESPACES", "a,b")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube/one:/etc/kube/two")
    settings = _settings(_parser().parse_args(["run", "--kube-write-burst", "3", "-n", "c"]))
    assert settings.kube_write_qps == 7.5
    assert settings.kube_write_burst == 3
    assert settings.watch_namespaces == ("c",)  # the flag wins over the variable
    assert settings.allowed_endpoints == ("vault.internal", "*.vault.azure.net")
    assert settings.kubeconfig == "/etc/kube/one:/etc/kube/two"
    assert settings.backend_environment().allowed_endpoints == settings.allowed_endpoints


def test_api_flags_fill_the_api_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCAIVAULT_API_PORT", raising=False)
    args = _parser().parse_args(["api", "--port", "8123", "--default-namespace", "x"])
    settings = _settings(args)
    assert (settings.api_port, settings.api_default_namespace, settings.api_host) == (
        8123,
        "x",
        "0.0.0.0",  # noqa: S104
    )


def test_azure_identity_variables_reach_the_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
    monkeypatch.setenv("SCAIVAULT_AZURE_CA_BUNDLE", "/etc/ca.pem")
    environment = Settings.load().backend_environment()
    azure = environment.settings_of(AzureSettings)
    assert azure.identity()["AZURE_FEDERATED_TOKEN_FILE"] == "/var/run/token"
    assert str(azure.azure_ca_bundle) == "/etc/ca.pem"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SCAIVAULT_KUBE_WRITE_QPS", "-1", "kube_write_qps (SCAIVAULT_KUBE_WRITE_QPS)"),
        ("SCAIVAULT_API_PORT", "http", "api_port (SCAIVAULT_API_PORT)"),
        ("SCAIVAULT_MAX_CONCURRENT_SYNCS", "-1", "max_concurrent_syncs"),
        ("KUBERNETES_SERVICE_PORT", "99999", "kubernetes_service_port (KUBERNETES_SERVICE_PORT)"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidSettingsError) as caught:
        Settings.load()
    assert named in str(caught.value)
    assert f"'{value}'" not in str(caught.value)


def test_the_cli_stops_with_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scaivault_federation import cli

    monkeypatch.setenv("SCAIVAULT_KUBE_WRITE_BURST", "0")
    assert cli.main(["run"]) == 2
    assert "kube_write_burst (SCAIVAULT_KUBE_WRITE_BURST)" in capsys.readouterr().err


def test_the_readme_table_lists_every_setting_and_nothing_else() -> None:
    text = README.read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.M)
    assert listed == [row[0] for row in settings_table()]
    defaults = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([A-Z0-9_]+)` \|[^|]*\| `([^`]*)` \|", section, flags=re.M)
    }
    for variable, _, default, _ in settings_table():
        assert defaults.get(variable, "") == default, variable
