"""The operator-level allowlist of backend endpoints."""

from __future__ import annotations

import pytest

from scaivault_federation.backends import Credentials, InvalidBackendConfigError
from scaivault_federation.backends.allowlist import is_allowed, parse_patterns
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.factory import BackendEnvironment, create_backend
from scaivault_federation.backends.vault.config import VaultConfig


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://vault.internal:8200", True),
        ("https://VAULT.internal", True),
        ("https://x.vault.azure.net", True),
        ("https://vault.azure.net.evil.io", False),
        ("http://169.254.169.254/latest", False),
        ("http://10.0.0.5:8200", True),
        ("http://10.0.0.5:9999", False),
        ("127.0.0.1:8085", False),
    ],
)
def test_patterns(endpoint: str, allowed: bool) -> None:
    patterns = ["vault.internal", "*.vault.azure.net", "10.0.0.5:8200"]
    assert is_allowed(endpoint, patterns) is allowed


def test_patterns_parse_from_a_comma_separated_setting() -> None:
    assert parse_patterns(" Vault.internal, ,*.vault.azure.net ") == (
        "vault.internal",
        "*.vault.azure.net",
    )


async def test_backends_outside_the_allowlist_are_refused() -> None:
    environment = BackendEnvironment(allowed_endpoints=("vault.internal",))
    with pytest.raises(InvalidBackendConfigError, match=r"169\.254\.169\.254"):
        await create_backend(
            "hashicorp-vault",
            VaultConfig(endpoint="http://169.254.169.254", auth_config_path="a/b"),
            Credentials({"token": b"t"}),
            environment,
        )
    with pytest.raises(InvalidBackendConfigError, match="vault_url"):
        await create_backend(
            "azure-key-vault",
            AzureConfig(vault_url="https://elsewhere.example"),
            Credentials({}),
            environment,
        )
    backend = await create_backend(
        "hashicorp-vault",
        VaultConfig(endpoint="https://vault.internal:8200", auth_config_path="a/b"),
        Credentials({"token": b"t"}),
        environment,
    )
    await backend.close()
