"""Which endpoints the operator refuses, decided without contacting them: addresses
as written, names through an injected resolver (no lookup leaves the test), and
what an explicit allowlist re-admits."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scaivault_federation.backends.allowlist import (
    EndpointRefusedError,
    check_endpoints,
    check_resolved,
    is_refused_address,
)
from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.vault.config import VaultConfig

from .test_endpoint_parser import METADATA_SPELLINGS


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fd00:ec2::254", True),
        ("::ffff:169.254.169.254", True),
        ("::169.254.169.254", True),  # IPv4-compatible
        ("::a9fe:a9fe", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64, well-known prefix
        ("64:ff9b::169.254.0.1", True),
        ("64:ff9b:1::a9fe:a9fe", True),  # NAT64, local-use prefix
        ("64:ff9b::7f00:1", False),
        ("::", False),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("::1", False),
        ("fd00:ec2::253", False),
        ("vault.internal", False),  # a name: only its addresses can be refused
    ],
)
def test_link_local_and_metadata_addresses(address: str, refused: bool) -> None:
    assert is_refused_address(address) is refused


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",
        "http://169.254.169.254:80/latest/meta-data",
        "http://[fd00:ec2::254]",
        "http://[fe80::a:b]:8200",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://METADATA.google.internal.",
        "http://[::169.254.169.254]",
        "http://[::ffff:a9fe:a9fe]:80",
        "http://[64:ff9b::a9fe:a9fe]",
        *(f"http://{host}/latest" for host in METADATA_SPELLINGS),
    ],
)
def test_refused_without_an_allowlist_naming_the_field(endpoint: str) -> None:
    with pytest.raises(EndpointRefusedError) as caught:
        check_endpoints(VaultConfig(endpoint=endpoint), ())
    assert caught.value.field == "endpoint"
    assert "config.endpoint" in caught.value.message
    with pytest.raises(EndpointRefusedError) as azure:
        check_endpoints(AzureConfig(vault_url=endpoint), ())
    assert azure.value.field == "vault_url"


def test_an_explicit_allowlist_readmits_and_limits() -> None:
    config = AwsConfig(region="us-east-1", endpoint="http://169.254.169.254")
    check_endpoints(config, ("169.254.169.254",))  # named explicitly: allowed
    with pytest.raises(EndpointRefusedError, match="not in the operator's allowed endpoints"):
        check_endpoints(AwsConfig(region="us-east-1", endpoint="http://10.0.0.9"), ("vault.x",))


class Table:
    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


async def test_names_resolving_to_metadata_addresses_are_refused() -> None:
    resolver = Table(
        {
            "rebind.example": ["203.0.113.7", "169.254.169.254"],
            "vault.example": ["203.0.113.8"],
            "v6.example": ["fe80::1"],
        }
    )
    with pytest.raises(EndpointRefusedError, match="resolves to a link-local"):
        await check_resolved(VaultConfig(endpoint="https://rebind.example:8200"), (), resolver)
    with pytest.raises(EndpointRefusedError):
        await check_resolved(VaultConfig(endpoint="https://v6.example"), (), resolver)
    await check_resolved(VaultConfig(endpoint="https://vault.example"), (), resolver)
    await check_resolved(VaultConfig(endpoint="https://unknown.example"), (), resolver)
    # an address is judged as written, never looked up; an allowlist decides alone
    await check_resolved(VaultConfig(endpoint="http://127.0.0.1:8200"), (), resolver)
    await check_resolved(
        VaultConfig(endpoint="https://rebind.example"), ("rebind.example",), resolver
    )
    assert resolver.asked == ["rebind.example", "v6.example", "vault.example", "unknown.example"]
