"""Google workload identity federation on the Secret Manager emulator: google-auth's own
``external_account`` credentials exchange a real ServiceAccount token of the test
apiserver at the emulator's STS, impersonate the Google service account its principal
may use, and read that account's prefix only. Every other token is refused as
Google refuses it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import PermissionDenied
from google.auth import exceptions as auth_exceptions
from google.auth import identity_pool
from google.auth.transport import requests as auth_requests

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.gsm import CLOUD_PLATFORM, JWT_TOKEN_TYPE, GoogleEmulator
from scaivault_devenv.gsm_federation import TOKEN_EXCHANGE

from .accounts import Team, assert_not_echoed, longer_lived, new_team


@dataclass
class Tenant:
    """A team's namespace, its Google service account and the prefix that may read."""

    team: Team
    email: str
    prefix: str


@dataclass
class Pool:
    name: str
    audience: str


@pytest.fixture
def pool(gsm_emulator: GoogleEmulator, control_plane: ControlPlane) -> Iterator[Pool]:
    """A workload identity pool whose provider trusts the test apiserver."""
    issuer = control_plane.service_account_issuer
    gsm_emulator.trust_issuer(issuer, control_plane.ca_file.read_text())
    name = f"pool-{uuid.uuid4().hex[:8]}"
    try:
        yield Pool(name, gsm_emulator.register_provider(name, "kubernetes", issuer))
    finally:
        gsm_emulator.shift_token_clock(0)


def tenant(
    server: GoogleEmulator, cp: ControlPlane, pool: Pool, label: str, seconds: int = 3600
) -> Tenant:
    team = new_team(cp, label)
    made = Tenant(
        team, server.service_account_email(f"sa-{uuid.uuid4().hex[:8]}"), f"{team.namespace}__"
    )
    users = [server.principal(pool.name, team.subject)]
    server.register_service_account(made.email, users, [made.prefix], token_seconds=seconds)
    server.put(f"{made.prefix}db", f"value of {team.namespace}")
    return made


def credentials(
    server: GoogleEmulator, pool: Pool, token: str, tmp_path: Path, email: str | None
) -> Any:
    token_file = tmp_path / f"token-{uuid.uuid4().hex[:6]}"
    token_file.write_text(token)
    info = server.external_account_info(pool.audience, token_file, email)
    return identity_pool.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])  # type: ignore[no-untyped-call]


def read(server: GoogleEmulator, creds: Any, secret_id: str) -> str:
    name = f"{server.parent}/secrets/{secret_id}/versions/latest"
    response = server.client(creds).access_secret_version(name=name, timeout=10, retry=None)
    return bytes(response.payload.data).decode()


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data, headers, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def exchange(
    server: GoogleEmulator, audience: str, token: str, token_type: str = JWT_TOKEN_TYPE
) -> tuple[int, dict[str, Any]]:
    """The STS answer for ``token``, as google-auth asks it."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "audience": audience,
        "scope": CLOUD_PLATFORM,
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": token,
        "subject_token_type": token_type,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return post(server.token_url, urllib.parse.urlencode(form).encode(), headers)


def impersonate(server: GoogleEmulator, email: str, access_token: str) -> tuple[int, Any]:
    body = json.dumps({"scope": [CLOUD_PLATFORM], "lifetime": "3600s"}).encode()
    headers = {"Content-Type": "application/json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    return post(server.impersonation_url(email), body, headers)


def test_each_service_account_reads_its_own_prefix_and_not_the_other(
    gsm_emulator: GoogleEmulator, control_plane: ControlPlane, pool: Pool, tmp_path: Path
) -> None:
    server = gsm_emulator
    a, b = (tenant(server, control_plane, pool, label) for label in ("gsm-a", "gsm-b"))
    server.reset_exchanges()
    creds = credentials(server, pool, a.team.token(pool.audience), tmp_path, a.email)

    assert read(server, creds, f"{a.prefix}db") == f"value of {a.team.namespace}"
    with pytest.raises(PermissionDenied):
        read(server, creds, f"{b.prefix}db")
    assert read(server, creds, f"{a.prefix}db") == f"value of {a.team.namespace}"

    # one token exchange and one impersonation for every read above
    assert server.exchanges() == {
        "granted": {server.principal(pool.name, a.team.subject): 1, a.email: 1},
        "refused": {},
    }


def test_a_federated_token_alone_has_no_role_on_secrets(
    gsm_emulator: GoogleEmulator, control_plane: ControlPlane, pool: Pool, tmp_path: Path
) -> None:
    a = tenant(gsm_emulator, control_plane, pool, "gsm-a")
    creds = credentials(gsm_emulator, pool, a.team.token(pool.audience), tmp_path, None)

    with pytest.raises(PermissionDenied):
        read(gsm_emulator, creds, f"{a.prefix}db")


def test_each_refused_token_is_refused_as_google_does(
    gsm_emulator: GoogleEmulator, control_plane: ControlPlane, pool: Pool
) -> None:
    server = gsm_emulator
    a, b = (tenant(server, control_plane, pool, label) for label in ("gsm-a", "gsm-b"))
    good = a.team.token(pool.audience)
    server.reset_exchanges()
    tokens = {
        "apiserver audience": a.team.token(),
        "tampered": longer_lived(good),
        "not a JWT": "not-a-jwt",
    }
    answers = {what: exchange(server, pool.audience, token) for what, token in tokens.items()}
    answers["unknown provider"] = exchange(server, pool.audience.replace("/kubernetes", "/x"), good)
    answers["id type"] = exchange(
        server, pool.audience, good, "urn:ietf:params:oauth:token-type:saml2"
    )
    server.shift_token_clock(601)  # TokenRequest's shortest life is 600 s
    answers["expired"] = exchange(server, pool.audience, good)
    server.shift_token_clock(0)

    errors = {what: (status, body["error"]) for what, (status, body) in answers.items()}
    assert errors == {
        "apiserver audience": (400, "invalid_grant"),
        "tampered": (400, "invalid_grant"),
        "not a JWT": (400, "invalid_grant"),
        "unknown provider": (400, "invalid_target"),
        "id type": (400, "invalid_request"),
        "expired": (400, "invalid_grant"),
    }
    described = {what: body["error_description"] for what, (_, body) in answers.items()}
    assert described["apiserver audience"].startswith("The audience in ID Token [")
    assert described["tampered"] == "Invalid ID Token signature."
    assert described["expired"].startswith("The ID Token has expired")
    for token in (*tokens.values(), good):
        assert_not_echoed(token, json.dumps(answers))

    # another namespace's principal is a principal of the pool, but not a user of a's account
    status, body = exchange(server, pool.audience, b.team.token(pool.audience))
    assert status == 200
    denied = impersonate(server, a.email, body["access_token"])
    assert denied[0] == 403
    assert denied[1]["error"]["status"] == "PERMISSION_DENIED"
    assert "iam.serviceAccounts.getAccessToken" in denied[1]["error"]["message"]
    assert impersonate(server, a.email, "")[1]["error"]["status"] == "UNAUTHENTICATED"

    assert server.exchanges() == {
        "granted": {server.principal(pool.name, b.team.subject): 1},
        "refused": {
            "invalid_grant": 4,
            "invalid_target": 1,
            "invalid_request": 1,
            "PERMISSION_DENIED": 1,
            "UNAUTHENTICATED": 1,
        },
    }


def test_google_auth_names_the_refusal(
    gsm_emulator: GoogleEmulator, control_plane: ControlPlane, pool: Pool, tmp_path: Path
) -> None:
    a = tenant(gsm_emulator, control_plane, pool, "gsm-a")
    token = a.team.token()  # the apiserver's audience, not the provider's
    creds = credentials(gsm_emulator, pool, token, tmp_path, a.email)

    with pytest.raises(auth_exceptions.OAuthError, match="invalid_grant") as caught:
        creds.refresh(auth_requests.Request())
    assert_not_echoed(token, str(caught.value))


def test_the_access_token_lifetime_is_the_service_accounts(
    gsm_emulator: GoogleEmulator, control_plane: ControlPlane, pool: Pool, tmp_path: Path
) -> None:
    a = tenant(gsm_emulator, control_plane, pool, "gsm-a", seconds=60)
    creds = credentials(gsm_emulator, pool, a.team.token(pool.audience), tmp_path, a.email)

    creds.refresh(auth_requests.Request())

    left = creds.expiry.replace(tzinfo=UTC).timestamp() - time.time()  # naive UTC
    assert 50 < left <= 60
