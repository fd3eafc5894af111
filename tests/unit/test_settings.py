"""The one settings model: environment, flags over it, clear errors, the README table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from scaivault_federation.backends.azure.settings import AzureSettings
from scaivault_federation.cli import _parser, _settings
from scaivault_federation.flags import Program, flagged
from scaivault_federation.settings import (
    FLAG_FIELDS,
    SETTINGS,
    InvalidSettingsError,
    Settings,
    settings_table,
    variable_of,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIVAULT_KUBE_WRITE_QPS", "7.5")
    monkeypatch.setenv("SCAIVAULT_ALLOWED_ENDPOINTS", " Vault.internal , *.vault.azure.net,")
    monkeypatch.setenv("SCAIVAULT_WATCH_NAMESPACES", "a,b")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube/one:/etc/kube/two")
    settings = _settings(_parser().parse_args(["run", "--kube-write-burst", "3", "-n", "c"]))
    assert settings.kube.write_qps == 7.5
    assert settings.kube.write_burst == 3
    assert settings.operator.watch_namespaces == ("c",)  # the flag wins over the variable
    assert settings.backends.allowed_endpoints == ("vault.internal", "*.vault.azure.net")
    assert settings.kube.config == "/etc/kube/one:/etc/kube/two"
    assert settings.backends.environment().allowed_endpoints == settings.backends.allowed_endpoints


def test_api_flags_fill_the_api_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCAIVAULT_API_PORT", raising=False)
    args = _parser().parse_args(["api", "--port", "8123", "--default-namespace", "x"])
    settings = _settings(args)
    assert (settings.api.port, settings.api.default_namespace, settings.api.host) == (
        8123,
        "x",
        "0.0.0.0",  # noqa: S104
    )


def test_azure_identity_variables_reach_the_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
    monkeypatch.setenv("SCAIVAULT_AZURE_CA_BUNDLE", "/etc/ca.pem")
    environment = Settings.load().backends.environment()
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
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if re.match(r"^\| `[A-Z0-9_]+` \|", line)
    ]
    table = settings_table()
    assert [row[0] for row in rows] == [f"`{r.variable}`" for r in table]
    for (_, flag, default, _, description), setting in zip(rows, table, strict=True):
        assert flag == setting.flag, setting.variable
        assert default == (f"`{setting.default}`" if setting.default else ""), setting.variable
        assert description == setting.description, setting.variable


def options(command: str) -> dict[str, argparse.Action]:
    """The options of one command's parser, by destination."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions if a.dest != "help"}


@pytest.mark.parametrize(
    ("command", "program"),
    [("run", Program.OPERATOR), ("api", Program.API), ("status", Program.COMMANDS)],
)
def test_the_flags_are_the_marked_settings(command: str, program: Program) -> None:
    marked = {setting[0]: flag for setting, flag in flagged(FLAG_FIELDS, program)}
    found = {d: a for d, a in options(command).items() if d in SETTINGS}
    assert set(found) == set(marked)
    for name, action in found.items():
        info = SETTINGS[name].info
        assert tuple(action.option_strings) == marked[name].names(name)
        assert action.help is not None and (info.description or "") in action.help
        assert f"[{variable_of(name)}]" in action.help
    assert set(options(command)) - set(found) <= {"output", "namespace", "name", "path"}


def test_flag_types_come_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    run = options("run")
    assert run["kube_write_burst"].type is int and run["lease_duration_seconds"].type is float
    assert options("api")["api_static_tokens"].type is Path
    assert run["sharding"].nargs == 0  # a bool is a flag without a value
    with pytest.raises(SystemExit):
        _parser().parse_args(["api", "--port", "http"])
    assert "--port: invalid int value" in capsys.readouterr().err


def test_a_repeated_flag_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCAIVAULT_WATCH_NAMESPACES", raising=False)
    args = _parser().parse_args(["run", "-n", "a,b", "--namespace", "c"])
    assert _settings(args).operator.watch_namespaces == ("a", "b", "c")
    assert _settings(_parser().parse_args(["run"])).operator.watch_namespaces == ()


def test_the_help_names_each_flag_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["api", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--port N API listen port (default: 8000) [SCAIVAULT_API_PORT]" in text
    assert "--static-tokens FILE YAML file of static tokens" in text
    assert "-v, --verbose debug logging [SCAIVAULT_VERBOSE]" in text


def test_the_groups_read_the_flat_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "SCAIVAULT_API_PORT": "8123",
        "SCAIVAULT_KUBE_WRITE_QPS": "2.5",
        "SCAIVAULT_STANDALONE": "true",
        "SCAIVAULT_OPERATOR_NAMESPACE": "ops",
        "SCAIVAULT_DEV_JSON": "/tmp/dev.json",  # noqa: S108
        "HOSTNAME": "pod-1",
        "KUBERNETES_SERVICE_PORT": "6443",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = Settings.load()
    assert settings.api.port == 8123 and settings.kube.write_qps == 2.5
    assert settings.operator.standalone is True and settings.operator.replica_name == "pod-1"
    assert settings.backends.operator_namespace == "ops" and settings.kube.service_port == 6443
    assert str(settings.commands.dev_json) == "/tmp/dev.json"  # noqa: S108
    assert Settings().api.port == 8123  # each group reads the environment itself too


def test_a_setting_is_named_by_its_variable() -> None:
    for name, setting in SETTINGS.items():
        assert setting.variable in (f"SCAIVAULT_{name.upper()}", name.upper()), name
    assert SETTINGS["api_port"].group == "api" and SETTINGS["api_port"].field == "port"
    with pytest.raises(TypeError, match="no setting named 'api_prot'"):
        Settings.load(api_prot=1)
