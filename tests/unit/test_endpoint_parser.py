"""The one endpoint parser: strict about what it accepts, and the URL it gives the
clients is the one the checks judged."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.google.config import GoogleConfig
from scaivault_federation.backends.vault.config import VaultConfig
from scaivault_federation.models.endpoint import (
    Endpoint,
    EndpointSyntaxError,
    numeric_ipv4,
    parse_endpoint,
)

#: every spelling of 169.254.169.254 that inet_aton (urllib3, curl, browsers) accepts
METADATA_SPELLINGS = [
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0XA9FEA9FE",
    "025177524776",
    "169.254.43518",
    "169.16689662",
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",
    "0xa9.0376.43518",
    "00000251.254.169.254",
]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_every_numeric_spelling_is_the_dotted_quad(host: str) -> None:
    assert str(numeric_ipv4(host.lower())) == "169.254.169.254"
    parsed = parse_endpoint(f"http://{host}:80/latest")
    assert parsed.host == "169.254.169.254"
    assert parsed.url == "http://169.254.169.254:80/latest"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Vault.Example.:8200/", Endpoint("https", "vault.example", 8200, "/")),
        ("HTTP://127.0.0.1", Endpoint("http", "127.0.0.1", None, "")),
        ("http://2130706433:8200", Endpoint("http", "127.0.0.1", 8200, "")),
        ("http://[::FFFF:a9fe:a9fe]", Endpoint("http", "::ffff:a9fe:a9fe", None, "")),
        ("https://vault_1.internal/v1", Endpoint("https", "vault_1.internal", None, "/v1")),
    ],
)
def test_normalised(raw: str, expected: Endpoint) -> None:
    assert parse_endpoint(raw) == expected


def test_bare_host_and_port_only_where_allowed() -> None:
    assert parse_endpoint("127.0.0.1:8085", bare=True).url == "127.0.0.1:8085"
    assert parse_endpoint("[::1]:8085", bare=True).url == "[::1]:8085"
    with pytest.raises(EndpointSyntaxError, match="http:// or https://"):
        parse_endpoint("127.0.0.1:8085")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("http://169.254.169.254\\@vault.example", "backslash"),
        ("http://internal:8080\\@secretsmanager.eu-west-1.amazonaws.com", "backslash"),
        ("http://vault.example\\", "backslash"),
        ("http://user:pw@vault.example", "user information"),
        ("http://169.254.169.254@vault.example", "user information"),
        ("http://@vault.example", "user information"),
        ("http://vault.example:0", "port"),
        ("http://vault.example:65536", "port"),
        ("http://vault.example:99999999", "port"),
        ("http://vault.example:", "port"),
        ("http://vault.example:+80", "port"),
        ("http://vault.example:8200:1", "port"),
        ("ftp://vault.example", "scheme"),
        ("http://", "no host"),
        ("http://vault example", "spaces"),
        ("http://vault.example/\t", "spaces"),
        ("http://v\u00e4ult.example", "ASCII"),
        ("http://vault.example?x=1", "query"),
        ("http://vault.example#f", "fragment"),
        ("http://vault%2eexample", "host may hold"),
        ("http://vault..example", "host may hold"),
        ("http://-vault.example", "host may hold"),
        ("http://[fe80::1%25eth0]", "zone"),
        ("http://[::1", "']'"),
        ("http://[::1]x", "only a port"),
        ("http://[vault]", "IPv6"),
        ("http://1.2.3.4.5", "IPv4"),
        ("http://256.1.1.1", "IPv4"),
        ("http://4294967296", "IPv4"),
        ("http://1.16777216", "IPv4"),
        ("http://08.1.1.1", "IPv4"),
        ("http://vault.0x1", "IPv4"),
        ("http://vault.example/a b", "spaces"),
        ("http://vault.example/<x>", "path"),
    ],
)
def test_refused_naming_what_is_wrong(raw: str, why: str) -> None:
    with pytest.raises(EndpointSyntaxError, match=why) as caught:
        parse_endpoint(raw)
    assert raw not in str(caught.value)


@pytest.mark.parametrize(
    ("model", "field", "values"),
    [
        (VaultConfig, "endpoint", {}),
        (AwsConfig, "endpoint", {"region": "us-east-1"}),
        (AzureConfig, "vaultUrl", {}),
        (GoogleConfig, "endpoint", {"project": "p"}),
    ],
)
def test_the_config_models_use_it_naming_the_field(
    model: type[VaultConfig | AwsConfig | AzureConfig | GoogleConfig],
    field: str,
    values: dict[str, str],
) -> None:
    canary = "http://svf-canary-4f1e\\@vault.example"
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**values, field: canary})
    errors = caught.value.errors(include_input=False, include_url=False)
    assert [e["loc"] for e in errors] == [(field,)]
    assert "backslash" in errors[0]["msg"]
    assert "svf-canary" not in str(caught.value.errors(include_input=False))
    kept = model.model_validate({**values, field: "https://Vault.Example:8443"})
    assert kept.to_cr()[field] == "https://Vault.Example:8443"  # kept as written
