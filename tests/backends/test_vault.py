"""The Vault backend against a real OpenBao dev server.

Every test writes its own data under a unique prefix (or a unique mount), so
tests do not see each other's secrets and can run in any order.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
    SecretNotFoundError,
)
from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.backends.vault.backend import VaultBackend
from scaivault_federation.backends.vault.config import VaultAuthMethod, VaultConfig


class VaultServer(Protocol):
    address: str
    root_token: str


@pytest.fixture
def bao(openbao: VaultServer) -> VaultServer:
    return openbao


def admin(
    server: VaultServer,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    namespace: str | None = None,
) -> dict[str, Any]:
    """One root-token call to the Vault HTTP API (test setup only)."""
    headers = {"X-Vault-Token": server.root_token, "Content-Type": "application/json"}
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"{server.address}/v1/{path}", data, headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{method} {path}: HTTP {err.code} {err.read()!r}") from None
    return json.loads(raw) if raw.strip() else {}


def write_v2(
    server: VaultServer, path: str, value: Mapping[str, object], mount: str = "secret"
) -> None:
    admin(server, "POST", f"{mount}/data/{path}", {"data": dict(value)})


def unique(stem: str = "t") -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


BackendMaker = Callable[..., Awaitable[VaultBackend]]


@pytest.fixture
async def make_backend(bao: VaultServer) -> AsyncIterator[BackendMaker]:
    """Builds backends for ``bao`` (root token unless told otherwise) and closes them."""
    made: list[VaultBackend] = []

    async def make(
        credentials: Mapping[str, bytes] | None = None,
        endpoint: str | None = None,
        **config: Any,
    ) -> VaultBackend:
        creds = Credentials(
            {"token": bao.root_token.encode()} if credentials is None else dict(credentials)
        )
        backend = VaultBackend(VaultConfig(endpoint=endpoint or bao.address, **config), creds)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- KV v2 listing --------------------------------------------------------------------------


async def test_lists_a_nested_tree_recursively(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    expected: set[str] = set()
    layout = {"": 6, "l1/": 8, "l1/l2/": 9, "other/": 3}
    for folder, count in layout.items():
        for i in range(count):
            sub = f"{root}/{folder}s{i}"
            write_v2(bao, sub, {"n": str(i)})
            expected.add(f"secret/data/{sub}")
    write_v2(bao, f"{root}/s0", {"n": "changed"})
    backend = await make_backend()

    refs = await backend.list_secrets(f"secret/data/{root}/")

    assert len(expected) == 26
    assert {ref.path for ref in refs} == expected
    assert [ref.path for ref in refs] == sorted(expected)
    versions = {ref.path: ref.version for ref in refs}
    # OpenBao's detailed listing gives versions and update times for free
    assert versions[f"secret/data/{root}/s0"] == "2"
    assert versions[f"secret/data/{root}/l1/l2/s3"] == "1"
    assert all(ref.updated_at is not None for ref in refs)
    # the root folder and its three folders: one mount lookup, four listings
    assert backend.calls.snapshot() == {("mounts", "ok"): 1, ("list", "ok"): 4}


async def test_lists_a_sub_folder_with_the_mount_cached(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    for sub in ("a/x", "a/b/y", "c/z"):
        write_v2(bao, f"{root}/{sub}", {"k": "v"})
    backend = await make_backend()
    await backend.list_secrets(f"secret/data/{root}/c/")

    refs = await backend.list_secrets(f"secret/data/{root}/a/")

    assert [ref.path for ref in refs] == [
        f"secret/data/{root}/a/b/y",
        f"secret/data/{root}/a/x",
    ]
    assert backend.calls.get("mounts") == 1
    assert backend.calls.get("list") == 3


async def test_listing_an_absent_prefix_is_empty(make_backend: BackendMaker) -> None:
    backend = await make_backend()

    assert await backend.list_secrets(f"secret/data/{unique()}/") == []
    assert backend.calls.get("list", "not_found") == 1


async def test_paths_without_the_data_segment_are_accepted(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    write_v2(bao, f"{root}/app/db", {"user": "app"})
    backend = await make_backend()

    refs = await backend.list_secrets(f"secret/{root}/")
    secret = await backend.get_secret(f"secret/{root}/app/db")

    assert [ref.path for ref in refs] == [f"secret/{root}/app/db"]
    assert secret.path == f"secret/{root}/app/db"
    assert secret.value == {"user": "app"}


# -- KV v2 reads ----------------------------------------------------------------------------


async def test_get_returns_the_map_and_its_version(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    write_v2(bao, f"{root}/db", {"user": "app", "password": "first"})
    write_v2(bao, f"{root}/db", {"user": "app", "password": "second", "port": 5432})
    backend = await make_backend()

    secret = await backend.get_secret(f"secret/data/{root}/db")

    assert secret.path == f"secret/data/{root}/db"
    assert secret.value == {"user": "app", "password": "second", "port": 5432}
    assert secret.version == "2"
    assert backend.calls.snapshot() == {("mounts", "ok"): 1, ("read", "ok"): 1}


async def test_get_of_a_missing_path_is_not_found(make_backend: BackendMaker) -> None:
    backend = await make_backend()

    with pytest.raises(SecretNotFoundError) as caught:
        await backend.get_secret(f"secret/data/{unique()}/missing")

    assert not caught.value.retryable
    assert backend.calls.get("read", "not_found") == 1


async def test_invalid_paths_are_rejected_without_a_call(make_backend: BackendMaker) -> None:
    backend = await make_backend()

    for path in ("secret/data/../sys/seal", "secret//x", "secret/data/./x"):
        with pytest.raises(InvalidBackendConfigError):
            await backend.get_secret(path)

    assert backend.calls.total() == 0


# -- KV v1 and namespaces -----------------------------------------------------------------


async def test_kv_v1_mount_is_detected_listed_and_read(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    mount = unique("kv1")
    admin(bao, "POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "1"}})
    admin(bao, "POST", f"{mount}/app/db", {"user": "app", "password": "pw"})
    admin(bao, "POST", f"{mount}/app/nested/api", {"key": "k"})
    backend = await make_backend()

    refs = await backend.list_secrets(f"{mount}/")
    secret = await backend.get_secret(f"{mount}/app/db")
    batch = await backend.get_many([f"{mount}/app/gone"])

    assert [ref.path for ref in refs] == [f"{mount}/app/db", f"{mount}/app/nested/api"]
    assert secret.value == {"user": "app", "password": "pw"}
    assert secret.version is None
    assert batch.missing == [f"{mount}/app/gone"] and not batch.found and not batch.failed
    assert backend.calls.snapshot() == {
        ("mounts", "ok"): 1,
        ("list", "ok"): 3,
        ("read", "ok"): 1,
        ("read", "not_found"): 1,
    }


async def test_configured_kv_version_overrides_detection(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    mount = unique("kv1")
    admin(bao, "POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "1"}})
    admin(bao, "POST", f"{mount}/data/x", {"k": "v"})
    backend = await make_backend(kv_version=1)

    secret = await backend.get_secret(f"{mount}/data/x")  # a v1 path that looks like v2

    assert secret.value == {"k": "v"}


async def test_namespace_header_is_sent(bao: VaultServer, make_backend: BackendMaker) -> None:
    namespace = unique("ns")
    admin(bao, "POST", f"sys/namespaces/{namespace}", {})
    admin(
        bao,
        "POST",
        "sys/mounts/kv",
        {"type": "kv", "options": {"version": "2"}},
        namespace=namespace,
    )
    admin(bao, "POST", "kv/data/app", {"data": {"in": namespace}}, namespace=namespace)
    backend = await make_backend(namespace=namespace)

    refs = await backend.list_secrets("kv/data/")
    secret = await backend.get_secret("kv/data/app")

    assert [ref.path for ref in refs] == ["kv/data/app"]
    assert secret.value == {"in": namespace}


# -- authentication ------------------------------------------------------------------------


async def test_a_bad_token_is_refused_by_the_first_call_without_a_login(
    make_backend: BackendMaker,
) -> None:
    backend = await make_backend({"token": b"s.not-a-real-token"})

    with pytest.raises(AuthenticationError):
        await backend.get_secret(f"secret/data/{unique()}/db")
    with pytest.raises(AuthenticationError):
        await backend.probe()

    assert backend.calls.snapshot() == {("mounts", "auth_failed"): 1, ("probe", "auth_failed"): 1}


def setup_approle(server: VaultServer, root: str) -> tuple[str, str, str]:
    """An AppRole mount allowed to read and list ``secret/<root>/``: (mount, role_id, secret_id)."""
    mount = unique("approle")
    admin(server, "POST", f"sys/auth/{mount}", {"type": "approle"})
    policy = "\n".join(
        [
            f'path "secret/data/{root}/*" {{ capabilities = ["read"] }}',
            f'path "secret/metadata/{root}/*" {{ capabilities = ["list"] }}',
            f'path "secret/metadata/{root}/" {{ capabilities = ["list"] }}',
        ]
    )
    admin(server, "PUT", f"sys/policies/acl/{root}", {"policy": policy})
    admin(
        server, "POST", f"auth/{mount}/role/reader", {"token_policies": [root], "token_ttl": "1h"}
    )
    role_id = admin(server, "GET", f"auth/{mount}/role/reader/role-id")["data"]["role_id"]
    secret_id = admin(server, "POST", f"auth/{mount}/role/reader/secret-id")["data"]["secret_id"]
    return mount, role_id, secret_id


async def test_approle_logs_in_lists_and_reads(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    write_v2(bao, f"{root}/db", {"password": "pw"})
    write_v2(bao, f"{root}/sub/api", {"key": "k"})
    mount, role_id, secret_id = setup_approle(bao, root)
    backend = await make_backend(
        {"role_id": role_id.encode(), "secret_id": f"{secret_id}\n".encode()},
        auth_method=VaultAuthMethod.APPROLE,
        auth_mount=mount,
    )

    refs = await backend.list_secrets(f"secret/data/{root}/")
    secret = await backend.get_secret(f"secret/data/{root}/db")

    assert [ref.path for ref in refs] == [f"secret/data/{root}/db", f"secret/data/{root}/sub/api"]
    assert secret.value == {"password": "pw"}
    assert backend.calls.get("login") == 1
    # the policy grants metadata, not detailed-metadata: one refused try, then plain listing
    assert backend.calls.get("list", "auth_failed") == 1
    assert backend.calls.get("list", "ok") == 2
    assert all(ref.version is None for ref in refs)


async def test_approle_logs_in_again_when_its_token_is_revoked(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    write_v2(bao, f"{root}/db", {"password": "pw"})
    mount, role_id, secret_id = setup_approle(bao, root)
    backend = await make_backend(
        {"role_id": role_id.encode(), "secret_id": secret_id.encode()},
        auth_method=VaultAuthMethod.APPROLE,
        auth_mount=mount,
    )
    assert await backend.probe() > 0

    admin(bao, "PUT", f"sys/leases/revoke-prefix/auth/{mount}/login", {})
    secret = await backend.get_secret(f"secret/data/{root}/db")

    assert secret.value == {"password": "pw"}
    assert backend.calls.get("login", "ok") == 2
    assert backend.calls.get("mounts", "auth_failed") == 1


async def test_approle_with_a_wrong_secret_id_fails_without_leaking_it(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    mount, role_id, _ = setup_approle(bao, root)
    wrong = str(uuid.uuid4())
    backend = await make_backend(
        {"role_id": role_id.encode(), "secret_id": wrong.encode()},
        auth_method=VaultAuthMethod.APPROLE,
        auth_mount=mount,
    )

    with pytest.raises(AuthenticationError) as caught:
        await backend.get_secret(f"secret/data/{root}/db")

    assert wrong not in str(caught.value)
    assert role_id not in str(caught.value)
    assert backend.calls.snapshot() == {("login", "auth_failed"): 1}


@pytest.mark.parametrize(
    ("credentials", "config", "named"),
    [
        ({}, {}, "token"),
        ({"role_id": b"r"}, {"auth_method": VaultAuthMethod.APPROLE}, "secret_id"),
        ({"token": b"jwt"}, {"auth_method": VaultAuthMethod.KUBERNETES}, "role"),
        ({}, {"auth_method": VaultAuthMethod.KUBERNETES, "role": "r"}, "JWT"),
        ({"token": b"t", "ca.crt": b"not a pem"}, {}, "ca.crt"),
    ],
)
async def test_unusable_configuration_is_rejected_up_front(
    make_backend: BackendMaker,
    credentials: dict[str, bytes],
    config: dict[str, Any],
    named: str,
) -> None:
    with pytest.raises(InvalidBackendConfigError, match=named):
        await make_backend(credentials, **config)


# -- availability and probing --------------------------------------------------------------


async def test_unreachable_server_is_unavailable(make_backend: BackendMaker) -> None:
    backend = await make_backend(endpoint=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(BackendUnavailableError) as caught:
        await backend.get_secret("secret/data/app/db")
    with pytest.raises(BackendUnavailableError):
        await backend.probe()

    assert caught.value.retryable
    assert "root" not in str(caught.value)
    assert backend.calls.snapshot() == {("mounts", "unavailable"): 1, ("probe", "unavailable"): 1}


# -- registry ------------------------------------------------------------------------------


async def test_registry_rejects_a_mismatched_config() -> None:
    with pytest.raises(InvalidBackendConfigError):
        await create_backend("hashicorp-vault", AwsConfig(region="us-east-1"), Credentials({}))


async def test_kubernetes_auth_logs_in_with_the_provided_jwt(bao: VaultServer) -> None:
    mount = unique("k8s")
    admin(bao, "POST", f"sys/auth/{mount}", {"type": "kubernetes"})
    jwt = "eyJhbGciOiJSUzI1NiJ9." + uuid.uuid4().hex + ".sig"
    asked: list[int] = []

    async def provider() -> str:
        asked.append(1)
        return jwt

    backend = VaultBackend(
        VaultConfig(
            endpoint=bao.address,
            auth_method=VaultAuthMethod.KUBERNETES,
            auth_mount=mount,
            role="unknown-role",
        ),
        Credentials({}),
        jwt_provider=provider,
    )
    try:
        with pytest.raises(AuthenticationError) as caught:
            await backend.probe()
    finally:
        await backend.close()

    assert asked == [1]
    assert jwt not in str(caught.value)
    assert mount in str(caught.value)
    assert backend.calls.snapshot() == {("login", "auth_failed"): 1}


# -- throttling and sealing ------------------------------------------------------------------


async def test_sealed_server_is_unavailable(tmp_path: Path) -> None:
    with OpenBaoServer(tmp_path) as server:
        backend = VaultBackend(
            VaultConfig(endpoint=server.address),
            Credentials({"token": server.root_token.encode()}),
        )
        try:
            admin(server, "PUT", "sys/seal")
            with pytest.raises(BackendUnavailableError, match="sealed") as caught:
                await backend.list_secrets("secret/data/")
        finally:
            await backend.close()

    assert caught.value.retryable
    assert backend.calls.snapshot() == {("mounts", "unavailable"): 1}


async def test_approle_logs_in_again_before_the_token_expires(
    bao: VaultServer, make_backend: BackendMaker
) -> None:
    root = unique()
    mount, role_id, secret_id = setup_approle(bao, root)
    admin(bao, "POST", f"auth/{mount}/role/reader", {"token_ttl": "2s", "token_max_ttl": "2s"})
    backend = await make_backend(
        {"role_id": role_id.encode(), "secret_id": secret_id.encode()},
        auth_method=VaultAuthMethod.APPROLE,
        auth_mount=mount,
    )
    await backend.probe()

    await asyncio.sleep(1.7)  # past 80% of the lease
    await backend.probe()

    assert backend.calls.snapshot() == {("login", "ok"): 2, ("probe", "ok"): 2}
