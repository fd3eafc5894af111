"""The API as a network service: HTTPS with a certificate that can be replaced
without a restart, Kubernetes tokens bound to the API's own audience, and
connections that cannot be held open by clients that never finish a request."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.api.auth import TOKEN_AUDIENCE
from scaivault_federation.api.server import ApiServer
from tests.api_server import started_api
from tests.vault_auth_setup import Pki, make_ca

from .conftest import Namespace, Tokens, api_settings
from .helpers import FED, service_account_token

pytestmark = pytest.mark.e2e

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0


@pytest.fixture
def pki() -> Pki:
    return make_ca("api-test-ca")


@pytest.fixture
def cert_files(tmp_path: Path, pki: Pki) -> Iterator[tuple[Path, Path]]:
    cert, key = pki.issue_server("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    yield cert_file, key_file


def client_context(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pki.cert_pem.decode())


async def served_certificate(port: int, pki: Pki) -> bytes:
    """The certificate (DER) a new TLS connection to the API is shown."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(pki))
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert isinstance(der, bytes)
        return der
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_the_api_over_tls_with_a_certificate_replaced_in_place(
    control_plane: ControlPlane,
    crd: None,
    tokens: tuple[Path, Tokens],
    pki: Pki,
    cert_files: tuple[Path, Path],
) -> None:
    cert_file, key_file = cert_files
    settings = api_settings(
        control_plane,
        tokens,
        api_tls_cert_file=cert_file,
        api_tls_key_file=key_file,
        api_tls_reload_seconds=0.2,
    )
    async with started_api(settings) as server:
        assert server.url.startswith("https://")
        connector = aiohttp.TCPConnector(ssl=client_context(pki))
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Authorization": f"Bearer {tokens[1].admin}"}
            async with session.get(f"{server.url}{FED}/backends", headers=headers) as reply:
                assert reply.status == 200
            plain = server.url.replace("https://", "http://")
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"{plain}/healthz") as reply:
                    await reply.read()

        first = await served_certificate(server.port, pki)
        cert, key = pki.issue_server("127.0.0.1")
        # as a Secret volume changes: the key first, then the chain (a mismatched
        # pair in between must not stop the API from serving the old one)
        key_file.write_bytes(key)
        await asyncio.sleep(0.5)
        assert await served_certificate(server.port, pki) == first
        cert_file.write_bytes(cert)

        async def replaced() -> bool:
            return await served_certificate(server.port, pki) != first

        deadline = time.monotonic() + 10
        while not await replaced():
            assert time.monotonic() < deadline, "the new certificate was never served"
            await asyncio.sleep(0.2)


@pytest.fixture
async def reader_tokens(ns: Namespace) -> tuple[str, str, str]:
    """ServiceAccounts allowed to list FederationBackends in ``ns``: a token of the
    apiserver's audience, and one of the API's (and the namespace)."""
    verbs = {("federation.scaivault.io", "federationbackends"): ["get", "list"]}
    apiserver = await service_account_token(ns.kube, ns.name, verbs, audience=None)
    dedicated = await service_account_token(ns.kube, ns.name, verbs)
    return apiserver, dedicated, ns.name


async def list_with(url: str, token: str, namespace: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{url}{FED}/backends",
            params={"namespace": namespace},
            headers={"Authorization": f"Bearer {token}"},
        ) as reply,
    ):
        return reply.status


async def test_tokens_must_be_issued_for_the_apis_audience(
    control_plane: ControlPlane,
    crd: None,
    tokens: tuple[Path, Tokens],
    reader_tokens: tuple[str, str, str],
) -> None:
    apiserver, dedicated, namespace = reader_tokens
    async with started_api(api_settings(control_plane, tokens)) as server:
        assert server.settings.api.token_audience == TOKEN_AUDIENCE
        assert await list_with(server.url, dedicated, namespace) == 200
        assert await list_with(server.url, apiserver, namespace) == 401
    allowing = api_settings(control_plane, tokens, api_token_apiserver_audience=True)
    async with started_api(allowing) as server:
        assert await list_with(server.url, apiserver, namespace) == 200
        assert await list_with(server.url, dedicated, namespace) == 200
    other = api_settings(control_plane, tokens, api_token_audience="another-api")
    async with started_api(other) as server:
        assert await list_with(server.url, dedicated, namespace) == 401


@pytest.fixture
async def bounded_api(
    control_plane: ControlPlane, crd: None, tokens: tuple[Path, Tokens]
) -> AsyncIterator[ApiServer]:
    settings = api_settings(
        control_plane,
        tokens,
        api_request_head_timeout_seconds=HEAD_TIMEOUT,
        api_request_body_timeout_seconds=BODY_TIMEOUT,
        api_max_connections=3,
    )
    async with started_api(settings) as server:
        yield server


async def closed_after(reader: asyncio.StreamReader, dribble: Any = None) -> float:
    """Seconds until the server closes the connection (reading whatever it sends)."""
    started = time.monotonic()
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), 0.25)
        except TimeoutError:
            chunk = None
        except ConnectionError:
            return time.monotonic() - started
        if chunk == b"":
            return time.monotonic() - started
        if dribble is not None:
            await dribble()
        assert time.monotonic() - started < 30, "the connection was never closed"


async def test_a_request_head_that_never_ends_is_closed_in_time(
    bounded_api: ApiServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded_api.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    count = 0

    async def one_more_header() -> None:
        nonlocal count
        count += 1
        writer.write(f"X-Slow-{count}: still coming\r\n".encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    took = await closed_after(reader, one_more_header)
    writer.close()
    assert count >= 2  # it kept sending, and was closed anyway
    assert took < HEAD_TIMEOUT + 1.5, took


async def test_a_body_that_never_arrives_is_408(
    bounded_api: ApiServer, tokens: tuple[Path, Tokens]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded_api.port)
    writer.write(
        (
            f"POST {FED}/backends HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {tokens[1].admin}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        ).encode()
    )
    started = time.monotonic()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n"), BODY_TIMEOUT + 5)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert time.monotonic() - started < BODY_TIMEOUT + 1.5
    writer.close()


async def test_connections_past_the_cap_are_closed_at_once(bounded_api: ApiServer) -> None:
    held = [await asyncio.open_connection("127.0.0.1", bounded_api.port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded_api.port)
    assert await closed_after(reader) < 0.5
    writer.close()
    for _, held_writer in held:
        held_writer.close()
    # once they are gone, a new connection is served
    await asyncio.sleep(0.2)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{bounded_api.url}/healthz") as reply,
    ):
        assert reply.status == 200
