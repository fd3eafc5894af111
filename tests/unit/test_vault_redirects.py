"""Redirects of a Vault endpoint are followed only within its origin or to an origin
the allowlist names: the token and a login's body never reach anywhere else.

Two recording servers on 127.0.0.1 (different ports, so different origins) stand
in for a Vault node that redirects and for where it redirects to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaivault_federation.backends import BackendError, Credentials
from scaivault_federation.backends.redirects import RedirectRefusedError
from scaivault_federation.backends.vault.backend import VaultBackend
from scaivault_federation.backends.vault.config import VaultAuthMethod, VaultConfig

from .test_vault_login_requests import LOGIN_TOKEN, Answer, RecordingServer

TOKEN = "s.configured-token-5be1"
PASSWORD = "userpass-secret-93d0"


@pytest.fixture
def elsewhere() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def vault() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def redirect(to: str, status: int = 307) -> Answer:
    return Answer(status, b"", {"Location": to})


def netloc(server: RecordingServer) -> str:
    return server.url.removeprefix("http://")


async def probe(server: RecordingServer, allowed: tuple[str, ...] = (), **config: object) -> None:
    credentials = (
        {"username": b"alice", "password": PASSWORD.encode()} if config else {"token": TOKEN}
    )
    backend = VaultBackend(
        VaultConfig.model_validate({"endpoint": server.url, **config}),
        Credentials({k: v if isinstance(v, bytes) else v.encode() for k, v in credentials.items()}),
        allowed_endpoints=allowed,
    )
    try:
        await backend.probe()
    finally:
        await backend.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("allowed", [(), ("127.0.0.1:{vault}",)])
async def test_a_redirect_to_another_origin_is_not_followed(
    vault: RecordingServer, elsewhere: RecordingServer, status: int, allowed: tuple[str, ...]
) -> None:
    vault.answers["/v1/auth/token/lookup-self"] = redirect(
        f"{elsewhere.url}/v1/auth/token/lookup-self", status
    )
    patterns = tuple(p.format(vault=netloc(vault).split(":")[1]) for p in allowed)
    with pytest.raises(RedirectRefusedError, match="another origin") as caught:
        await probe(vault, patterns)
    assert TOKEN not in str(caught.value)
    assert elsewhere.requests == []


async def test_a_login_redirected_elsewhere_sends_no_body_there(
    vault: RecordingServer, elsewhere: RecordingServer
) -> None:
    vault.answers["/v1/auth/userpass/login/alice"] = redirect(
        f"{elsewhere.url}/v1/auth/userpass/login/alice"
    )
    with pytest.raises(BackendError) as caught:
        await probe(vault, auth_method=VaultAuthMethod.USERPASS)
    assert "another origin" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "location", ["/v1/auth/token/lookup-self?moved=1", "{vault}/v1/auth/token/lookup-self?x=1"]
)
async def test_a_redirect_within_the_origin_is_followed(
    vault: RecordingServer, location: str
) -> None:
    original = vault.answer

    def answer(method: str, path: str) -> Answer:
        if len(vault.requests) == 1:  # the first lookup
            return redirect(location.format(vault=vault.url))
        return original(method, path)

    vault.answer = answer  # type: ignore[method-assign]
    await probe(vault)
    lookups = [r for r in vault.requests if r.path == "/v1/auth/token/lookup-self"]
    assert len(lookups) == 2
    assert lookups[1].query  # the Location's query
    assert all(r.headers["x-vault-token"] == TOKEN for r in lookups)


async def test_a_login_redirected_within_the_origin_is_sent_again(
    vault: RecordingServer,
) -> None:
    sent: list[str] = []
    original = vault.answer

    def answer(method: str, path: str) -> Answer:
        sent.append(path)
        if path == "/v1/auth/userpass/login/alice":
            return redirect("/v1/auth/userpass/login/alice-active")
        return original(method, path)

    vault.answer = answer  # type: ignore[method-assign]
    await probe(vault, auth_method=VaultAuthMethod.USERPASS)
    logins = [r for r in vault.requests if "/login/" in r.path]
    assert [r.path for r in logins] == [
        "/v1/auth/userpass/login/alice",
        "/v1/auth/userpass/login/alice-active",
    ]
    assert logins[1].json() == {"password": PASSWORD}  # a 307 keeps the body
    lookup = next(r for r in vault.requests if r.path.endswith("lookup-self"))
    assert lookup.headers["x-vault-token"] == LOGIN_TOKEN


async def test_a_standby_redirect_to_an_allowed_node_is_followed(
    vault: RecordingServer, elsewhere: RecordingServer
) -> None:
    vault.answers["/v1/auth/token/lookup-self"] = redirect(
        f"{elsewhere.url}/v1/auth/token/lookup-self"
    )
    await probe(vault, (netloc(vault), netloc(elsewhere)))
    assert [r.path for r in elsewhere.requests][:1] == ["/v1/auth/token/lookup-self"]
    assert elsewhere.requests[0].headers["x-vault-token"] == TOKEN


async def test_a_redirect_loop_ends(vault: RecordingServer) -> None:
    vault.answers["/v1/auth/token/lookup-self"] = redirect("/v1/auth/token/lookup-self")
    with pytest.raises(RedirectRefusedError, match="more than 3"):
        await probe(vault)
    assert len(vault.requests) <= 5
