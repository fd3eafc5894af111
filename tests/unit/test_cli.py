"""The command line: built-in commands, and ``dev`` added by the devenv plugin."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

import scaivault_devenv.environment
from scaivault_devenv import command
from scaivault_federation import cli, runner


def _without_plugins(monkeypatch: pytest.MonkeyPatch, *plugins: EntryPoint) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: list(plugins))


def test_devenv_declares_the_dev_command() -> None:
    found = {e.name: e.value for e in entry_points(group=cli.COMMANDS_GROUP)}
    assert found == {"dev": "scaivault_devenv.command:register"}


def test_dev_state_dir_is_optional(tmp_path: Path) -> None:
    args = cli._parser().parse_args(["dev"])
    assert args.state_dir == Path(".state/dev")
    assert args.verbose is False
    args = cli._parser().parse_args(["dev", "--state-dir", str(tmp_path), "-v"])
    assert args.state_dir == tmp_path
    assert args.verbose is True


def test_dev_help_says_what_it_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping (argparse breaks on hyphens)
    with pytest.raises(SystemExit) as exited:
        cli.main(["dev", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: scaivault-federation dev [-h] [--state-dir STATE_DIR] [-v]" in text
    for phrase in (
        "etcd and kube-apiserver",
        "OpenBao",
        "moto",
        "dev.json",
        "Ctrl-C",
        "(default: .state/dev)",
    ):
        assert phrase in text, phrase


def test_main_runs_the_dev_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[object] = []

    def run_dev(state_dir: Path) -> int:
        calls.append(state_dir)
        return 0

    monkeypatch.setattr(runner, "configure_logging", lambda verbose=False: calls.append(verbose))
    monkeypatch.setattr(scaivault_devenv.environment, "run_dev", run_dev)
    assert cli.main(["dev", "--state-dir", str(tmp_path), "-v"]) == 0
    assert calls == [True, tmp_path]


def test_without_devenv_there_is_no_dev_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_plugins(monkeypatch)
    parser = cli._parser()
    assert "dev" not in parser.format_help()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["dev"])
    assert exited.value.code == 2
    assert "invalid choice: 'dev'" in capsys.readouterr().err
    assert parser.parse_args(["run", "--standalone"]).standalone is True


def test_a_broken_plugin_is_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("broken", "no_such_module_here:register", cli.COMMANDS_GROUP)
    dev = EntryPoint("dev", "scaivault_devenv.command:register", cli.COMMANDS_GROUP)
    _without_plugins(monkeypatch, broken, dev)
    parser = cli._parser()
    assert "ignoring command 'broken'" in capsys.readouterr().err
    assert parser.parse_args(["dev"]).handler is command._run


def test_a_plugin_cannot_replace_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    def hijack(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        raise AssertionError("a plugin named like a built-in command must not be loaded")

    monkeypatch.setitem(globals(), "hijack", hijack)
    _without_plugins(monkeypatch, EntryPoint("run", f"{__name__}:hijack", cli.COMMANDS_GROUP))
    assert cli._parser().parse_args(["run"]).handler is cli._run
