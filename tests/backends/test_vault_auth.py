"""Vault auth methods against real OpenBao servers: userpass, jwt (tokens of the test
apiserver), cert (an https OpenBao and throwaway CAs), TLS options, and the
revocation of logged-in tokens when a backend is closed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoError, OpenBaoServer
from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
)
from scaivault_federation.backends.vault.backend import VaultBackend
from scaivault_federation.backends.vault.config import VaultAuthMethod, VaultConfig
from tests.vault_auth_setup import (
    ROLE,
    configure_cert_auth,
    configure_jwt_auth,
    configure_userpass,
    make_ca,
    request_token,
)
from tests.vault_kubernetes import create_service_account

from .test_vault import setup_approle, unique, write_v2

Maker = Callable[..., Awaitable[VaultBackend]]


@pytest.fixture
async def make() -> AsyncIterator[Maker]:
    """Builds backends from a config and credentials, and closes them afterwards."""
    made: list[VaultBackend] = []

    async def build(
        server: OpenBaoServer,
        credentials: Mapping[str, bytes],
        jwt_provider: Callable[[], Awaitable[str]] | None = None,
        **config: Any,
    ) -> VaultBackend:
        backend = VaultBackend(
            VaultConfig(endpoint=server.address, **config),
            Credentials(dict(credentials)),
            jwt_provider=jwt_provider,
        )
        made.append(backend)
        return backend

    yield build
    for backend in made:
        await backend.close()


def seeded(server: OpenBaoServer) -> tuple[str, str]:
    """A fresh prefix holding ``db`` and ``sub/api``; returns (prefix, a canary value)."""
    prefix = unique()
    canary = "auth-canary-" + uuid.uuid4().hex
    write_v2(server, f"{prefix}/db", {"password": canary})
    write_v2(server, f"{prefix}/sub/api", {"key": "k"})
    return prefix, canary


async def assert_reads(backend: VaultBackend, prefix: str, canary: str) -> None:
    refs = await backend.list_secrets(f"secret/data/{prefix}/")
    assert [ref.path for ref in refs] == [
        f"secret/data/{prefix}/db",
        f"secret/data/{prefix}/sub/api",
    ]
    assert (await backend.get_secret(f"secret/data/{prefix}/db")).value == {"password": canary}


def assert_safe(error: BaseException, *secret: str) -> None:
    text = f"{error} {error!r} {getattr(error, 'args', ())}"
    for value in secret:
        assert value not in text


def token_works(server: OpenBaoServer, token: str) -> bool:
    try:
        server.request("GET", "/v1/auth/token/lookup-self", token=token)
    except OpenBaoError as error:
        assert "HTTP 403" in str(error)
        return False
    return True


# -- userpass --------------------------------------------------------------------------------


async def test_userpass_logs_in_lists_and_reads(openbao: OpenBaoServer, make: Maker) -> None:
    prefix, canary = seeded(openbao)
    user = configure_userpass(openbao, prefix)
    backend = await make(
        openbao,
        {"username": user.username.encode(), "password": f"{user.password}\n".encode()},
        auth_method=VaultAuthMethod.USERPASS,
        auth_mount=user.mount,
    )

    await assert_reads(backend, prefix, canary)

    # one login; mount lookup, two detailed listings (root and sub/), one read
    assert backend.calls.snapshot() == {
        ("login", "ok"): 1,
        ("mounts", "ok"): 1,
        ("list", "ok"): 2,
        ("read", "ok"): 1,
    }


async def test_a_released_backend_reads_again_with_the_same_login(
    openbao: OpenBaoServer, make: Maker
) -> None:
    """release() between syncs drops the HTTP clients and connections, not the token:
    the next sync needs no new login, and closing still revokes that one token."""
    prefix, canary = seeded(openbao)
    user = configure_userpass(openbao, prefix)
    backend = await make(
        openbao,
        {"username": user.username.encode(), "password": user.password.encode()},
        auth_method=VaultAuthMethod.USERPASS,
        auth_mount=user.mount,
    )
    await assert_reads(backend, prefix, canary)
    token = backend._client._auth.logged_in_token  # the login's token, to try it after
    assert token is not None and token_works(openbao, token)

    for _ in range(3):
        await backend.release()
        assert backend._client._http is None  # nothing held while asleep
        await assert_reads(backend, prefix, canary)

    assert backend.calls.get("login", "ok") == 1
    await backend.close()
    assert not token_works(openbao, token)


async def test_userpass_with_a_wrong_password_fails_without_leaking(
    openbao: OpenBaoServer, make: Maker
) -> None:
    prefix, canary = seeded(openbao)
    user = configure_userpass(openbao, prefix)
    wrong = "wrong-" + uuid.uuid4().hex
    backend = await make(
        openbao,
        {"username": user.username.encode(), "password": wrong.encode()},
        auth_method=VaultAuthMethod.USERPASS,
        auth_mount=user.mount,
    )

    with pytest.raises(AuthenticationError) as caught:
        await backend.get_secret(f"secret/data/{prefix}/db")
    with pytest.raises(AuthenticationError) as probed:
        await backend.probe()

    for error in (caught.value, probed.value):
        assert_safe(error, wrong, user.password, canary)
        assert not error.retryable
        assert f"auth/{user.mount}/login" in str(error)
    assert backend.calls.snapshot() == {("login", "auth_failed"): 2}


# -- jwt -------------------------------------------------------------------------------------


async def test_jwt_logs_in_with_a_requested_service_account_token(
    openbao: OpenBaoServer, control_plane: ControlPlane, make: Maker
) -> None:
    prefix, canary = seeded(openbao)
    account, audience = f"jwt-{uuid.uuid4().hex[:8]}", f"vault-{uuid.uuid4().hex[:6]}"
    create_service_account(control_plane, "default", account)
    mount = configure_jwt_auth(openbao, control_plane, "default", account, audience, prefix)
    asked: list[str] = []

    async def provider() -> str:
        asked.append(audience)
        return request_token(control_plane, "default", account, audience)

    backend = await make(
        openbao,
        {},
        jwt_provider=provider,
        auth_method=VaultAuthMethod.JWT,
        auth_mount=mount,
        role=ROLE,
        service_account=account,
        audience=audience,
    )

    await assert_reads(backend, prefix, canary)

    assert asked == [audience]  # one TokenRequest, one login
    assert backend.calls.get("login", "ok") == 1


async def test_jwt_from_the_credentials_secret(
    openbao: OpenBaoServer, control_plane: ControlPlane, make: Maker
) -> None:
    prefix, canary = seeded(openbao)
    account, audience = f"jwt-{uuid.uuid4().hex[:8]}", f"vault-{uuid.uuid4().hex[:6]}"
    create_service_account(control_plane, "default", account)
    mount = configure_jwt_auth(openbao, control_plane, "default", account, audience, prefix)
    jwt = request_token(control_plane, "default", account, audience)

    backend = await make(
        openbao,
        {"jwt": f"{jwt}\n".encode()},
        auth_method=VaultAuthMethod.JWT,
        auth_mount=mount,
        role=ROLE,
    )

    await assert_reads(backend, prefix, canary)


async def test_jwt_for_another_audience_is_refused_without_leaking(
    openbao: OpenBaoServer, control_plane: ControlPlane, make: Maker
) -> None:
    prefix, canary = seeded(openbao)
    account, audience = f"jwt-{uuid.uuid4().hex[:8]}", f"vault-{uuid.uuid4().hex[:6]}"
    create_service_account(control_plane, "default", account)
    mount = configure_jwt_auth(openbao, control_plane, "default", account, audience, prefix)
    jwt = request_token(control_plane, "default", account, "some-other-audience")

    backend = await make(
        openbao,
        {"jwt": jwt.encode()},
        auth_method=VaultAuthMethod.JWT,
        auth_mount=mount,
        role=ROLE,
    )
    with pytest.raises(AuthenticationError) as caught:
        await backend.probe()

    assert_safe(caught.value, jwt, canary)
    assert f"auth/{mount}/login" in str(caught.value)
    assert backend.calls.snapshot() == {("login", "auth_failed"): 1}


# -- cert and TLS ----------------------------------------------------------------------------


def tls_seeded(server: OpenBaoServer) -> tuple[str, str]:
    prefix = unique()
    canary = "tls-canary-" + uuid.uuid4().hex
    server.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": canary}})
    server.request("POST", f"/v1/secret/data/{prefix}/sub/api", {"data": {"key": "k"}})
    return prefix, canary


def server_ca(server: OpenBaoServer) -> bytes:
    assert server.ca_file is not None
    return server.ca_file.read_bytes()


async def test_cert_logs_in_with_a_client_certificate(
    openbao_tls: OpenBaoServer, make: Maker
) -> None:
    prefix, canary = tls_seeded(openbao_tls)
    client_ca = make_ca("federation clients")
    mount = configure_cert_auth(openbao_tls, client_ca, prefix)
    cert, key = client_ca.issue_client("scaivault-federation")

    backend = await make(
        openbao_tls,
        {"tls.crt": cert, "tls.key": key, "ca.crt": server_ca(openbao_tls)},
        auth_method=VaultAuthMethod.CERT,
        auth_mount=mount,
        role=ROLE,
    )

    await assert_reads(backend, prefix, canary)
    assert backend.calls.get("login", "ok") == 1


async def test_cert_signed_by_an_unknown_ca_is_refused(
    openbao_tls: OpenBaoServer, make: Maker
) -> None:
    prefix, canary = tls_seeded(openbao_tls)
    mount = configure_cert_auth(openbao_tls, make_ca("trusted clients"), prefix)
    cert, key = make_ca("someone else").issue_client("impostor")

    backend = await make(
        openbao_tls,
        {"tls.crt": cert, "tls.key": key, "ca.crt": server_ca(openbao_tls)},
        auth_method=VaultAuthMethod.CERT,
        auth_mount=mount,
    )
    with pytest.raises(AuthenticationError) as caught:
        await backend.get_secret(f"secret/data/{prefix}/db")

    assert_safe(caught.value, key.decode(), canary)
    assert backend.calls.snapshot() == {("login", "auth_failed"): 1}


async def test_unusable_client_certificates_are_rejected_up_front(
    openbao_tls: OpenBaoServer, make: Maker
) -> None:
    client_ca = make_ca("clients")
    cert, key = client_ca.issue_client("c")
    _, other_key = client_ca.issue_client("d")
    cases: list[tuple[dict[str, bytes], str]] = [
        ({"tls.key": key}, "tls.crt"),
        ({"tls.crt": cert}, "tls.key"),
        ({"tls.crt": b"not a certificate", "tls.key": key}, "tls.crt"),
        ({"tls.crt": cert, "tls.key": other_key}, "tls.crt' and 'tls.key"),
    ]
    for credentials, named in cases:
        with pytest.raises(InvalidBackendConfigError, match=named) as caught:
            await make(openbao_tls, credentials, auth_method=VaultAuthMethod.CERT)
        assert_safe(caught.value, key.decode(), other_key.decode())
    with pytest.raises(InvalidBackendConfigError, match="https"):
        VaultBackend(
            VaultConfig.model_construct(
                endpoint=openbao_tls.address.replace("https", "http"),
                auth_method=VaultAuthMethod.CERT,
                tls_verify=True,
            ),
            Credentials({"tls.crt": cert, "tls.key": key}),
        )


async def test_https_server_is_verified_against_the_configured_ca(
    openbao_tls: OpenBaoServer, make: Maker
) -> None:
    token = {"token": openbao_tls.root_token.encode()}
    trusted = await make(openbao_tls, {**token, "ca.crt": server_ca(openbao_tls)})
    untrusted = await make(openbao_tls, token)
    unverified = await make(openbao_tls, token, tls_verify=False)

    assert await trusted.probe() > 0
    with pytest.raises(BackendUnavailableError, match="TLS") as caught:
        await untrusted.probe()
    assert await unverified.probe() > 0

    assert_safe(caught.value, openbao_tls.root_token)
    assert untrusted.calls.snapshot() == {("probe", "unavailable"): 1}


# -- revocation on close ---------------------------------------------------------------------


async def test_closing_revokes_the_token_a_login_obtained(openbao: OpenBaoServer) -> None:
    prefix, _ = seeded(openbao)
    mount, role_id, secret_id = setup_approle(openbao, prefix)
    backend = VaultBackend(
        VaultConfig(
            endpoint=openbao.address, auth_method=VaultAuthMethod.APPROLE, auth_mount=mount
        ),
        Credentials({"role_id": role_id.encode(), "secret_id": secret_id.encode()}),
    )
    await backend.probe()
    token = backend._client._auth.logged_in_token  # the logged-in token, for this check only
    assert isinstance(token, str) and token_works(openbao, token)
    leases = openbao.request("LIST", f"/v1/sys/leases/lookup/auth/{mount}/login/")
    assert len(leases["data"]["keys"]) == 1

    await backend.close()

    assert not token_works(openbao, token)
    with pytest.raises(OpenBaoError, match="HTTP 404"):  # no leases left below the login
        openbao.request("LIST", f"/v1/sys/leases/lookup/auth/{mount}/login/")
    assert backend.calls.snapshot() == {("login", "ok"): 1, ("probe", "ok"): 1, ("revoke", "ok"): 1}
    await backend.close()  # closing twice revokes nothing more
    assert backend.calls.get("revoke") == 1


async def test_closing_leaves_a_configured_token_alone(openbao: OpenBaoServer) -> None:
    created = openbao.request("POST", "/v1/auth/token/create", {"ttl": "10m"})
    token = created["auth"]["client_token"]
    backend = VaultBackend(
        VaultConfig(endpoint=openbao.address), Credentials({"token": token.encode()})
    )
    await backend.probe()

    await backend.close()

    assert token_works(openbao, token)
    assert backend.calls.snapshot() == {("probe", "ok"): 1}


async def test_closing_a_backend_whose_server_is_gone_is_quick(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    spare = OpenBaoServer(tmp_path_factory.mktemp("spare-revoke"))
    spare.start()
    try:
        spare.request("POST", "/v1/sys/auth/userpass", {"type": "userpass"})
        spare.request("POST", "/v1/auth/userpass/users/u", {"password": "p"})
        backend = VaultBackend(
            VaultConfig(endpoint=spare.address, auth_method=VaultAuthMethod.USERPASS),
            Credentials({"username": b"u", "password": b"p"}),
        )
        await backend.probe()
    finally:
        spare.stop()

    started = time.monotonic()
    await backend.close()

    assert time.monotonic() - started < 5
    assert backend.calls.get("revoke", "unavailable") == 1
