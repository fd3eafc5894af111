"""Keyless Azure backends, built as the operator builds them, against the Key Vault
emulator's Entra ID verifying client assertions against the test apiserver's issuer:
each account's application reads its own prefix only, one exchange serves every
backend of the account until shortly before the token expires, and Entra ID's refusal
is its own reason with its AADSTS code, never the token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.keyvault import KeyVaultServer, service_account_credential
from scaivault_federation.backends.azure.config import CLIENT_ANNOTATION, TENANT_ANNOTATION
from scaivault_federation.backends.azure.names import azure_name
from scaivault_federation.backends.errors import (
    AuthenticationError,
    InvalidBackendConfigError,
    TokenExchangeRefusedError,
)
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import BackendSettings
from tests.e2e.listeners import JWT
from tests.keyless import Keyless, Team, keyless_spec, lend_account, new_namespace, opened

from .harness_azure import put_value


@pytest.fixture
def entra(keyvault_server: KeyVaultServer, control_plane: ControlPlane) -> Iterator[KeyVaultServer]:
    """The emulator's Entra ID, trusting the test apiserver's issuer."""
    issuer = control_plane.service_account_issuer
    keyvault_server.trust_issuer(issuer, control_plane.ca_file.read_text())
    keyvault_server.reset_exchanges()
    yield keyvault_server


@pytest.fixture
async def keyless(kube: KubeClient, entra: KeyVaultServer) -> AsyncIterator[Keyless]:
    settings = BackendSettings(
        azure_ca_bundle=entra.ca_bundle, azure_authority_host=entra.authority_host
    )
    async with opened(kube, BackendEnvironment(settings=settings)) as made:
        yield made


def team(
    cp: ControlPlane, server: KeyVaultServer, *, seconds: int = 3600, federated: str = "reader"
) -> Team:
    """A namespace whose ServiceAccount ``reader`` names an application with a federated
    credential for the account ``federated`` of the namespace, reading its prefix."""
    namespace = new_namespace(cp, "azure-keyless")
    client_id = str(uuid.uuid4())
    credential = service_account_credential(cp.service_account_issuer, namespace, federated)
    server.register_application(
        client_id, [credential], [azure_name(f"{namespace}/x")[:-1]], seconds
    )
    lend_account(
        cp, namespace, "reader", {CLIENT_ANNOTATION: client_id, TENANT_ANNOTATION: server.tenant_id}
    )
    put_value(server, f"{namespace}/db", f"value of {namespace}")
    return Team(namespace, client_id)


def spec(server: KeyVaultServer, account: str, **config: str) -> BackendSpec:
    return keyless_spec(
        "azure-key-vault", {"vaultUrl": server.vault_url, "serviceAccount": account, **config}
    )


async def test_each_accounts_application_reads_its_prefix_with_one_exchange(
    control_plane: ControlPlane, keyless: Keyless, entra: KeyVaultServer
) -> None:
    a, b = (team(control_plane, entra) for _ in range(2))
    first = await keyless.connect(spec(entra, "reader"), a.namespace, "one")
    second = await keyless.connect(spec(entra, "reader"), a.namespace, "two")
    for backend in (first, second):
        assert (await backend.get_secret(a.secret)).value == f"value of {a.namespace}"
        with pytest.raises(AuthenticationError):
            await backend.get_secret(b.secret)
        assert a.secret in {r.path for r in await backend.list_secrets(f"{a.namespace}/")}
    assert entra.exchanges() == {"granted": {a.identity: 1}, "refused": {}}
    assert keyless.exchanges() == 1


async def test_the_tenant_comes_from_the_account_else_the_config(
    control_plane: ControlPlane, keyless: Keyless, entra: KeyVaultServer
) -> None:
    a = team(control_plane, entra)
    lend_account(control_plane, a.namespace, "reader", {CLIENT_ANNOTATION: a.identity})
    with pytest.raises(InvalidBackendConfigError, match=TENANT_ANNOTATION):
        await keyless.connect(spec(entra, "reader"), a.namespace, "b")
    backend = await keyless.connect(
        spec(entra, "reader", tenantId=entra.tenant_id), a.namespace, "b"
    )
    assert (await backend.get_secret(a.secret)).value == f"value of {a.namespace}"


async def test_entra_refusing_the_assertion_names_its_code_never_the_token(
    control_plane: ControlPlane, keyless: Keyless, entra: KeyVaultServer
) -> None:
    """The application trusts another account of the namespace, not this one."""
    a = team(control_plane, entra, federated="someone-else")
    backend = await keyless.connect(spec(entra, "reader"), a.namespace, "b")
    for _ in range(2):  # a refusal is not kept
        with pytest.raises(TokenExchangeRefusedError) as caught:
            await backend.get_secret(a.secret)
        message = caught.value.message
        assert "AADSTS700213" in message and caught.value.reason == "TokenExchangeRefused"
        assert not JWT.search(f"{message} {caught.value!r}")
    assert entra.exchanges()["refused"] == {"AADSTS700213": 2}
    assert backend.calls.snapshot() == {("read", "auth_failed"): 2}  # each failed at its token
    assert keyless.exchanges() == 0
