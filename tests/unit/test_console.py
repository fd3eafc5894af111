"""The commands for people without a server: help, where the URL and token come from,
tables, and one-line errors."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scaivault_federation import cli
from scaivault_federation.console import commands
from scaivault_federation.console.client import ApiCallError, FederationClient, _answer_error
from scaivault_federation.console.tables import age, pairs, size, table

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("command", commands.COMMANDS)
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: scaivault-federation {command}" in text
    for part in ("examples:", "--api-url", "--token", "-o {table,json}", "SCAIVAULT_API_URL"):
        assert part in text, part
    top = cli._parser().format_help()
    assert command in top


def test_commands_take_their_arguments() -> None:
    args = cli._parser().parse_args(
        ["sync", "aws-dev", "-n", "team", "--path", "a/b", "--path", "c/**", "-o", "json"]
    )
    assert (args.name, args.namespace, args.paths, args.output) == (
        "aws-dev",
        "team",
        ["a/b", "c/**"],
        "json",
    )
    args = cli._parser().parse_args(["get", "external/aws/db"])
    assert (args.path, args.show_values, args.output) == ("external/aws/db", False, "table")


def _args(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(["backends", *argv])


def test_url_and_token_from_flags_then_environment_then_dev_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = tmp_path / "dev.json"
    dev.write_text(
        json.dumps(
            {"api_url": "http://127.0.0.1:1111", "tokens": {"admin": "dev-admin", "read_only": "r"}}
        )
    )
    monkeypatch.delenv("SCAIVAULT_API_URL", raising=False)
    monkeypatch.delenv("SCAIVAULT_API_TOKEN", raising=False)
    client = commands.connect(_args("--dev-json", str(dev)))
    assert (client.url, client.token) == ("http://127.0.0.1:1111", "dev-admin")
    monkeypatch.setenv("SCAIVAULT_API_URL", "http://127.0.0.1:2222/")
    monkeypatch.setenv("SCAIVAULT_API_TOKEN", "env-token")
    monkeypatch.setenv("SCAIVAULT_DEV_JSON", str(dev))
    client = commands.connect(_args())
    assert (client.url, client.token) == ("http://127.0.0.1:2222", "env-token")
    client = commands.connect(
        _args("--api-url", "https://api.example:8443", "--token", "flag-token")
    )
    assert (client.url, client.token) == ("https://api.example:8443", "flag-token")


def test_no_url_anywhere_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCAIVAULT_API_URL", raising=False)
    monkeypatch.setenv("SCAIVAULT_DEV_JSON", str(tmp_path / "missing.json"))
    assert cli.main(["backends"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("scaivault-federation backends: no API URL: give --api-url")


def test_a_bad_url_setting_is_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCAIVAULT_API_URL", "ftp://x")
    assert cli.main(["backends"]) == 2
    assert "api_url (SCAIVAULT_API_URL)" in capsys.readouterr().err


def test_answers_become_one_line_errors() -> None:
    body = json.dumps({"error": {"code": "forbidden", "message": "federation:read is required"}})
    error = _answer_error(403, body.encode())
    assert (error.status, error.code, error.message) == (
        403,
        "forbidden",
        "federation:read is required",
    )
    unauthenticated = _answer_error(401, b'{"error": {"code": "x", "message": "a token"}}')
    assert "--token" in unauthenticated.message
    assert _answer_error(502, b"<html>").message == "the API answered HTTP 502"
    with pytest.raises(ApiCallError, match="http"):
        FederationClient("file:///etc/passwd", None)


def test_tables() -> None:
    text = table(("name", "synced", "message"), [("aws-dev", 3, None), ("b", None, "a\nb")])
    assert text.splitlines() == [
        "NAME      SYNCED   MESSAGE",
        "aws-dev   3        -",
        "b         -        a b",
    ]
    assert pairs([("ID", "fed_1"), ("Last sync", None)]).splitlines() == [
        "ID:         fed_1",
        "Last sync:  -",
    ]
    assert size(1) == "1 byte" and size(12) == "12 bytes"


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=40), "40m"),
        (timedelta(hours=5), "5h"),
        (timedelta(days=3), "3d"),
        (-timedelta(minutes=15), "in 15m"),
    ],
)
def test_ages(delta: timedelta, shown: str) -> None:
    stamp = (NOW - delta).isoformat().replace("+00:00", "Z")
    assert age(stamp, NOW) == shown
    assert age(None, NOW) == "-"
