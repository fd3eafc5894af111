"""Entra ID workload identity on the emulator: azure-identity's WorkloadIdentityCredential
exchanges a real ServiceAccount token of the test apiserver for a Key Vault token of
the application whose federated credential names that ServiceAccount, and that token
reads its own prefix only. Every other assertion is refused with Entra's own code."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.entra_emulator import FEDERATION_AUDIENCE, JWT_BEARER
from scaivault_devenv.keyvault import KeyVaultServer, service_account_credential

from .accounts import Team, assert_not_echoed, longer_lived, new_team

SCOPE = "https://vault.azure.net/.default"


@dataclass
class Tenant:
    """A team's namespace, its application and the prefix that application may read."""

    team: Team
    client_id: str
    prefix: str


@pytest.fixture
def federated_vault(
    keyvault_server: KeyVaultServer, control_plane: ControlPlane
) -> Iterator[KeyVaultServer]:
    keyvault_server.trust_issuer(
        control_plane.service_account_issuer, control_plane.ca_file.read_text()
    )
    try:
        yield keyvault_server
    finally:
        keyvault_server.shift_token_clock(0)


def tenant(server: KeyVaultServer, cp: ControlPlane, label: str, seconds: int = 3600) -> Tenant:
    team = new_team(cp, label)
    made = Tenant(team, str(uuid.uuid4()), f"{team.namespace}--")
    federated = [service_account_credential(cp.service_account_issuer, team.namespace, "reader")]
    server.register_application(made.client_id, federated, [made.prefix], seconds)
    return made


def token_request(
    server: KeyVaultServer, client_id: str, assertion: str, assertion_type: str = JWT_BEARER
) -> tuple[int, dict[str, Any]]:
    """The token endpoint's answer to a federated client credentials grant."""
    form = {
        "client_id": client_id,
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_assertion_type": assertion_type,
        "client_assertion": assertion,
    }
    request = urllib.request.Request(  # noqa: S310 - our loopback emulator
        server.token_endpoint, urllib.parse.urlencode(form).encode(), method="POST"
    )
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def vault_status(server: KeyVaultServer, access_token: str, name: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our loopback emulator
        f"{server.vault_url}/secrets/{name}?api-version=7.4",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_each_application_reads_its_own_prefix_and_not_the_other(
    federated_vault: KeyVaultServer, control_plane: ControlPlane, tmp_path: Path
) -> None:
    server = federated_vault
    a, b = (tenant(server, control_plane, label) for label in ("entra-a", "entra-b"))
    admin = server.secret_client()
    for each in (a, b):
        admin.set_secret(f"{each.prefix}db", f"value of {each.team.namespace}")
    token_file = tmp_path / "token"
    token_file.write_text(a.team.token(FEDERATION_AUDIENCE))

    client = server.secret_client(server.workload_identity(a.client_id, token_file))

    assert client.get_secret(f"{a.prefix}db").value == f"value of {a.team.namespace}"
    with pytest.raises(HttpResponseError) as denied:
        client.get_secret(f"{b.prefix}db")
    assert denied.value.status_code == 403
    assert "ForbiddenByRbac" in str(denied.value)
    with pytest.raises(HttpResponseError) as no_write:
        client.set_secret(f"{a.prefix}db", "overwritten")
    assert no_write.value.status_code == 403
    names = {p.name for p in client.list_properties_of_secrets()}  # Key Vault Reader
    assert {f"{a.prefix}db", f"{b.prefix}db"} <= names
    assert server.exchanges()["granted"][a.client_id] == 1  # one token for all of the above
    assert b.client_id not in server.exchanges()["granted"]


def test_each_refused_assertion_has_its_own_aadsts_code(
    federated_vault: KeyVaultServer, control_plane: ControlPlane
) -> None:
    server = federated_vault
    a, b = (tenant(server, control_plane, label) for label in ("entra-a", "entra-b"))
    good = a.team.token(FEDERATION_AUDIENCE)
    elsewhere = str(uuid.uuid4())
    server.register_application(
        elsewhere,
        [service_account_credential("https://127.0.0.1:1", a.team.namespace, "reader")],
        [a.prefix],
    )
    server.reset_exchanges()
    attempts = {
        "apiserver audience": (a.client_id, a.team.token()),
        "not registered": (
            a.client_id,
            a.team.token(FEDERATION_AUDIENCE, account=a.team.other_account("stranger")),
        ),
        "another namespace": (a.client_id, b.team.token(FEDERATION_AUDIENCE)),
        "tampered": (a.client_id, longer_lived(good)),
        "another issuer": (elsewhere, good),
        "development client": (server.client_id, good),
        "unknown application": (str(uuid.uuid4()), good),
        "not a JWT": (a.client_id, "not-a-jwt"),
    }
    answers = {what: token_request(server, *attempt) for what, attempt in attempts.items()}
    answers["wrong assertion type"] = token_request(server, a.client_id, good, "jwt")
    server.shift_token_clock(601)  # TokenRequest's shortest life is 600 s
    answers["expired"] = token_request(server, a.client_id, good)
    server.shift_token_clock(0)

    codes = {what: (status, body["error_codes"][0]) for what, (status, body) in answers.items()}
    assert codes == {
        "apiserver audience": (400, 700212),
        "not registered": (400, 700213),
        "another namespace": (400, 700213),
        "tampered": (400, 700027),
        "another issuer": (400, 700211),
        "development client": (400, 700211),
        "unknown application": (400, 700016),
        "not a JWT": (400, 50027),
        "wrong assertion type": (400, 900144),
        "expired": (400, 700024),
    }
    assert answers["another namespace"][1]["error_description"].endswith(
        f"subject '{b.team.subject}'."
    )
    for (_, token), (_, body) in zip(attempts.values(), answers.values(), strict=False):
        assert_not_echoed(token, json.dumps(body))
    assert "access_token" not in json.dumps(answers)
    exchanges = server.exchanges()
    assert exchanges["granted"] == {}
    assert exchanges["refused"] == {
        "AADSTS700212": 1,
        "AADSTS700213": 2,
        "AADSTS700027": 1,
        "AADSTS700211": 2,
        "AADSTS50027": 1,
        "AADSTS700024": 1,
    }
    assert token_request(server, a.client_id, good)[0] == 200  # the clock is back


def test_azure_identity_names_the_refusal(
    federated_vault: KeyVaultServer, control_plane: ControlPlane, tmp_path: Path
) -> None:
    a = tenant(federated_vault, control_plane, "entra-a")
    token_file = tmp_path / "token"
    token_file.write_text(a.team.token())  # the apiserver's audience, not Entra's

    credential = federated_vault.workload_identity(a.client_id, token_file)

    with pytest.raises(ClientAuthenticationError, match="AADSTS700212"):
        credential.get_token(SCOPE)


def test_the_token_lifetime_is_the_applications_and_is_enforced(
    federated_vault: KeyVaultServer, control_plane: ControlPlane
) -> None:
    a = tenant(federated_vault, control_plane, "entra-a", seconds=2)
    federated_vault.secret_client().set_secret(f"{a.prefix}db", "short-lived")

    status, body = token_request(federated_vault, a.client_id, a.team.token(FEDERATION_AUDIENCE))

    assert (status, body["expires_in"]) == (200, 2)
    assert vault_status(federated_vault, body["access_token"], f"{a.prefix}db") == 200
    time.sleep(2.5)
    assert vault_status(federated_vault, body["access_token"], f"{a.prefix}db") == 401
