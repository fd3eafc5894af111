"""The Azure Key Vault backend against the local Key Vault emulator.

Every test writes its own data under a unique prefix, so tests do not see each
other's secrets and can run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from scaivault_devenv.cluster import ensure_service_account, service_account_token
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.entra_emulator import FEDERATION_AUDIENCE
from scaivault_devenv.keyvault import KeyVaultServer, service_account_credential
from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
    InvalidSecretValueError,
    SecretNotFoundError,
    ThrottledError,
)
from scaivault_federation.backends.azure.auth import (
    AUTHORITY_ENV,
    CLIENT_ENV,
    FEDERATED_TOKEN_ENV,
    TENANT_ENV,
    build_credential,
    choose_credential,
)
from scaivault_federation.backends.azure.backend import CA_BUNDLE_ENV, AzureKeyVaultBackend
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.azure.names import azure_name
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.settings import Settings

from .harness_azure import PAGE_SIZE, azure_config, put_value, secret_credentials

#: no credentials Secret, in a namespace allowed the operator's own identity
AMBIENT = Credentials({}, ambient=True)

CANARY = "azure-secret-value-canary-81f0"


def prefix() -> str:
    return f"azure-{uuid.uuid4().hex[:10]}/"


def make(
    server: KeyVaultServer, secret: str | None = None, **kwargs: object
) -> AzureKeyVaultBackend:
    options: dict[str, object] = {
        "connection_verify": str(server.ca_bundle),
        "env": {AUTHORITY_ENV: server.authority_host},
        "page_size": PAGE_SIZE,
        **kwargs,
    }
    return AzureKeyVaultBackend(
        azure_config(server),
        secret_credentials(secret or server.client_secret),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def backend(keyvault_server: KeyVaultServer) -> AsyncIterator[AzureKeyVaultBackend]:
    made = make(keyvault_server)
    yield made
    await made.close()


async def test_expired_and_future_secrets_are_not_synced(
    keyvault_server: KeyVaultServer, backend: AzureKeyVaultBackend
) -> None:
    root = prefix()
    now = datetime.now(UTC)
    put_value(keyvault_server, f"{root}live", "ok", expires_on=now + timedelta(days=1))
    put_value(keyvault_server, f"{root}expired", CANARY, expires_on=now - timedelta(minutes=1))
    put_value(keyvault_server, f"{root}future", CANARY, not_before=now + timedelta(hours=1))

    refs = await backend.list_secrets(root)
    assert [ref.path for ref in refs] == [f"{root}live"]
    assert refs[0].updated_at is not None
    assert (await backend.get_secret(f"{root}live")).value == "ok"
    for name in ("expired", "future"):
        with pytest.raises(SecretNotFoundError) as caught:
            await backend.get_secret(f"{root}{name}")
        assert CANARY not in str(caught.value)
    batch = await backend.get_many([f"{root}live", f"{root}expired", f"{root}future"])
    assert set(batch.found) == {f"{root}live"}
    assert batch.missing == [f"{root}expired", f"{root}future"]


async def test_names_round_trip_through_the_server(
    keyvault_server: KeyVaultServer, backend: AzureKeyVaultBackend
) -> None:
    root = prefix()
    paths = [
        f"{root}db-password",
        f"{root}apps/payments/db/password",
        f"{root}already--double/dash",
        f"{root}config.json",
        f"{root}api_key",
        f"{root}unicodé/€uro",
        f"{root}-edge-/x",
    ]
    client = keyvault_server.secret_client()
    for index, path in enumerate(paths):
        put_value(keyvault_server, path, f"value-{index}", client=client)
    # a secret written by someone else, not by the rule, is invisible
    client.set_secret(azure_name(root.rstrip("/")) + "-2D-x", "foreign")

    listed = [ref.path for ref in await backend.list_secrets(root)]
    assert listed == sorted(paths)
    for index, path in enumerate(paths):
        assert (await backend.get_secret(path)).value == f"value-{index}"
    stored = {p.name for p in client.list_properties_of_secrets()}
    assert azure_name(f"{root}apps/payments/db/password") in stored
    assert f"{azure_name(root.rstrip('/'))}--apps--payments--db--password" in stored


async def test_json_text_binary_and_versions(
    keyvault_server: KeyVaultServer, backend: AzureKeyVaultBackend
) -> None:
    root = prefix()
    put_value(keyvault_server, f"{root}blob", bytes(range(256)))
    put_value(keyvault_server, f"{root}map", {"user": "u", "password": CANARY})
    blob = await backend.get_secret(f"{root}blob")
    assert blob.value == bytes(range(256))
    assert blob.version and len(blob.version) == 32
    assert (
        await backend.get_secret(f"{root}map")
    ).value == f'{{"user": "u", "password": "{CANARY}"}}'

    client = keyvault_server.secret_client()
    client.set_secret(
        azure_name(f"{root}bad"), "not base64!", content_type="application/octet-stream"
    )
    with pytest.raises(InvalidSecretValueError) as caught:
        await backend.get_secret(f"{root}bad")
    assert "not base64!" not in str(caught.value)


async def test_throttling_and_server_errors_are_typed(
    keyvault_server: KeyVaultServer, backend: AzureKeyVaultBackend
) -> None:
    root = prefix()
    put_value(keyvault_server, f"{root}a", "1")
    put_value(keyvault_server, f"{root}b", "2")
    await backend.probe()

    keyvault_server.inject_faults(429, times=1, retry_after=7)
    with pytest.raises(ThrottledError) as throttled:
        await backend.get_secret(f"{root}a")
    assert throttled.value.retry_after == 7.0
    assert throttled.value.retryable

    keyvault_server.inject_faults(503, times=1)
    with pytest.raises(BackendUnavailableError):
        await backend.list_secrets(root)

    serial = make(keyvault_server, read_concurrency=1)
    try:
        await serial.probe()
        serial.calls.reset()
        keyvault_server.inject_faults(500, times=1)
        batch = await serial.get_many([f"{root}a", f"{root}b"])
        # the first failure stops the batch; the other path is failed, not asked
        assert len(batch.failed) == 2 and not batch.found
        assert serial.calls.get("read", "unavailable") == 1
        assert serial.calls.total() == 1
    finally:
        await serial.close()


async def test_the_factory_trusts_the_ca_bundle_from_the_operator_settings(
    keyvault_server: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CA_BUNDLE_ENV, str(keyvault_server.ca_bundle))
    monkeypatch.setenv(AUTHORITY_ENV, keyvault_server.authority_host)
    made = await create_backend(
        "azure-key-vault",
        azure_config(keyvault_server),
        secret_credentials(keyvault_server.client_secret),
        Settings.load().backends.environment(),
    )
    try:
        assert await made.probe() > 0
    finally:
        await made.close()

    monkeypatch.delenv(CA_BUNDLE_ENV)
    untrusting = await create_backend(
        "azure-key-vault",
        azure_config(keyvault_server),
        secret_credentials(keyvault_server.client_secret),
        Settings.load().backends.environment(),
    )
    try:
        with pytest.raises((BackendUnavailableError, AuthenticationError)):
            await untrusting.probe()
    finally:
        await untrusting.close()


async def test_workload_identity_reaches_the_vault(
    keyvault_server: KeyVaultServer, control_plane: ControlPlane, tmp_path: Path
) -> None:
    # a real ServiceAccount token, checked against the apiserver's keys by the emulator
    issuer, namespace = control_plane.service_account_issuer, "azure-workload-identity"
    ensure_service_account(control_plane, namespace, "reader")
    token_file = tmp_path / "token"
    token_file.write_text(
        service_account_token(control_plane, namespace, "reader", [FEDERATION_AUDIENCE])
    )
    root = prefix()
    put_value(keyvault_server, f"{root}wi", "via workload identity")
    client_id = str(uuid.uuid4())
    keyvault_server.trust_issuer(issuer, control_plane.ca_file.read_text())
    keyvault_server.register_application(
        client_id,
        [service_account_credential(issuer, namespace, "reader")],
        [azure_name(f"{root}wi")],
    )
    config = AzureConfig(vault_url=keyvault_server.vault_url)
    env = {
        FEDERATED_TOKEN_ENV: str(token_file),
        TENANT_ENV: keyvault_server.tenant_id,
        CLIENT_ENV: client_id,
        AUTHORITY_ENV: keyvault_server.authority_host,
    }
    made = AzureKeyVaultBackend(
        config, AMBIENT, connection_verify=str(keyvault_server.ca_bundle), env=env
    )
    try:
        assert made.credential_choice.kind == "workload_identity"
        assert (await made.get_secret(f"{root}wi")).value == "via workload identity"
    finally:
        await made.close()


async def test_managed_identity_reaches_the_vault(
    keyvault_server: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", keyvault_server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", keyvault_server.identity_header)
    root = prefix()
    put_value(keyvault_server, f"{root}mi", "via managed identity")
    made = AzureKeyVaultBackend(
        AzureConfig(vault_url=keyvault_server.vault_url),
        AMBIENT,
        connection_verify=str(keyvault_server.ca_bundle),
        env={},
    )
    try:
        assert made.credential_choice.kind == "managed_identity"
        assert (await made.get_secret(f"{root}mi")).value == "via managed identity"
    finally:
        await made.close()


# -- credential selection (no network) -------------------------------------------------


def test_a_client_secret_selects_the_service_principal() -> None:
    config = AzureConfig(
        vault_url="https://v.vault.azure.net", tenant_id="t", client_id="c", credentials_path="a/b"
    )
    choice = choose_credential(config, Credentials({"client_secret": b"s\n"}), env={})
    assert (choice.kind, choice.tenant_id, choice.client_id) == ("client_secret", "t", "c")


def test_without_a_client_secret_workload_identity_is_selected_when_injected() -> None:
    config = AzureConfig(vault_url="https://v.vault.azure.net", client_id="from-config")
    env = {
        FEDERATED_TOKEN_ENV: "/var/run/secrets/azure/tokens/azure-identity-token",
        TENANT_ENV: "tenant-from-env",
        CLIENT_ENV: "client-from-env",
        AUTHORITY_ENV: "https://login.microsoftonline.com/",
    }
    choice = choose_credential(config, AMBIENT, env=env)
    assert choice.kind == "workload_identity"
    assert (choice.tenant_id, choice.client_id) == ("tenant-from-env", "from-config")
    credential = build_credential(choice, Credentials({}))
    assert type(credential).__name__ == "WorkloadIdentityCredential"


def test_without_a_client_secret_or_injection_a_managed_identity_is_used() -> None:
    config = AzureConfig(vault_url="https://v.vault.azure.net", client_id="user-assigned")
    choice = choose_credential(config, AMBIENT, env={})
    assert (choice.kind, choice.client_id) == ("managed_identity", "user-assigned")
    system = choose_credential(AzureConfig(vault_url="https://v.vault.azure.net"), AMBIENT, {})
    assert (system.kind, system.client_id) == ("managed_identity", None)
    assert type(build_credential(system, Credentials({}))).__name__ == "ManagedIdentityCredential"


@pytest.mark.parametrize(
    ("config", "values"),
    [
        ({"vault_url": "https://v.vault.azure.net", "client_id": "c"}, {"client_secret": b"s"}),
        ({"vault_url": "https://v.vault.azure.net", "tenant_id": "t"}, {"client_secret": b"s"}),
        (
            {"vault_url": "https://v.vault.azure.net", "credentials_path": "a/b", "tenant_id": "t"},
            {"other": b"x"},
        ),
        (
            {"vault_url": "https://v.vault.azure.net", "tenant_id": "t", "client_id": "c"},
            {"client_secret": b" "},
        ),
        ({"vault_url": "http://v.vault.azure.net"}, {}),
    ],
)
def test_unusable_configs_are_rejected(config: dict[str, str], values: dict[str, bytes]) -> None:
    with pytest.raises(InvalidBackendConfigError):
        AzureKeyVaultBackend(AzureConfig(**config), Credentials(values), env={})


def test_a_vault_url_that_is_not_a_url_is_refused_by_the_config() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        AzureConfig(vault_url="v.vault.azure.net")


def test_workload_identity_without_ids_is_a_config_error() -> None:
    with pytest.raises(InvalidBackendConfigError):
        choose_credential(
            AzureConfig(vault_url="https://v.vault.azure.net"),
            Credentials({}),
            {FEDERATED_TOKEN_ENV: "/token"},
        )
