"""The Kubernetes login (``k8s/config.py``): kubeconfig lists merged by the
``kubernetes`` package, contexts, ``*-data`` fields, in-cluster; when credentials
are fetched again; the client's retry after a 401.

Exec plugins are processes, which unit tests never start: ``tests/e2e/
test_kube_login.py`` runs the operator and the API through one.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scaivault_federation.k8s.client import KubeClient, UnauthorizedError
from scaivault_federation.k8s.config import (
    RETRY_SECONDS,
    Credentials,
    KubeConfigError,
    KubeConnection,
    Loaded,
    in_cluster_loader,
    load_connection,
)
from scaivault_federation.settings import Settings

TOKEN = "unit-test-token-" + "5c1f0e7a9b3d"
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def _pem_pair(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# --- kubeconfig files ---------------------------------------------------------------------


def test_a_kubeconfig_list_is_merged_cluster_in_one_file_user_in_another(tmp_path: Path) -> None:
    ca, _ = _pem_pair("ca")
    (tmp_path / "clusters" / "ca.crt").parent.mkdir()
    (tmp_path / "clusters" / "ca.crt").write_bytes(ca)
    clusters = _write(
        tmp_path / "clusters" / "config",
        {
            "clusters": [
                {
                    "name": "prod",
                    "cluster": {
                        "server": "https://prod.example:6443/",
                        "certificate-authority": "ca.crt",  # relative to this file
                    },
                }
            ],
            "contexts": [
                {"name": "prod", "context": {"cluster": "prod", "user": "me", "namespace": "ops"}}
            ],
            "current-context": "prod",
        },
    )
    users = _write(
        tmp_path / "users" / "config", {"users": [{"name": "me", "user": {"token": TOKEN}}]}
    )
    missing = tmp_path / "not-there"
    connection = load_connection(os.pathsep.join(map(str, (clusters, missing, users))))

    credentials = connection.credentials
    assert credentials.server == "https://prod.example:6443"
    assert credentials.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert credentials.ca_file == str(tmp_path / "clusters" / "ca.crt")
    assert credentials.verify is True
    assert connection.default_namespace == "ops"
    assert str(clusters) in connection.source
    assert TOKEN not in repr(credentials)
    context = credentials.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED


def _two_contexts(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "config",
        {
            "clusters": [
                {"name": "a", "cluster": {"server": "http://a.example"}},
                {
                    "name": "b",
                    "cluster": {"server": "https://b.example", "insecure-skip-tls-verify": True},
                },
            ],
            "users": [
                {"name": "a", "user": {"token": TOKEN}},
                {"name": "b", "user": {"username": "ann", "password": "pw-" + "b7d1"}},
            ],
            "contexts": [
                {"name": "a", "context": {"cluster": "a", "user": "a"}},
                {"name": "b", "context": {"cluster": "b", "user": "b", "namespace": "bee"}},
            ],
            "current-context": "a",
        },
    )


def test_the_context_is_chosen_by_name_else_the_current_one(tmp_path: Path) -> None:
    path = _two_contexts(tmp_path)
    first = load_connection(path)
    assert first.server == "http://a.example"
    assert first.default_namespace == "default"

    second = load_connection(path, context="b")
    credentials = second.credentials
    assert credentials.server == "https://b.example"
    assert second.default_namespace == "bee"
    assert credentials.verify is False
    assert credentials.ssl_context() is False
    assert credentials.scheme_and_token() == (
        "Basic",
        base64.b64encode(b"ann:pw-b7d1").decode(),
    )


def test_an_unknown_context_or_no_kubeconfig_is_an_error_that_quotes_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _two_contexts(tmp_path)
    with pytest.raises(KubeConfigError, match="nope") as info:
        load_connection(path, context="nope")
    assert TOKEN not in str(info.value)
    with pytest.raises(KubeConfigError, match="no kubeconfig file found"):
        load_connection(str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(KubeConfigError, match="no kubeconfig found"):
        load_connection(None, service_account_dir=tmp_path / "no-service-account")


def test_data_fields_become_files_in_a_private_directory(tmp_path: Path) -> None:
    """Client certificates given inline: the package writes them out (Python's ssl
    loads client certificates only from files), into a directory of ours (0700)."""
    ca, _ = _pem_pair("ca")
    cert, key = _pem_pair("client")
    path = _write(
        tmp_path / "config",
        {
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": "https://c.example",
                        "certificate-authority-data": base64.b64encode(ca).decode(),
                    },
                }
            ],
            "users": [
                {
                    "name": "u",
                    "user": {
                        "client-certificate-data": base64.b64encode(cert).decode(),
                        "client-key-data": base64.b64encode(key).decode(),
                    },
                }
            ],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        },
    )
    credentials = load_connection(path).credentials
    assert credentials.authorization is None and credentials.headers() == {}
    files = [credentials.ca_file, credentials.cert_file, credentials.key_file]
    assert all(files)
    folders = {Path(str(f)).parent for f in files}
    assert len(folders) == 1
    (folder,) = folders
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert Path(str(credentials.key_file)).read_bytes() == key
    context = credentials.ssl_context()
    assert isinstance(context, ssl.SSLContext)  # the CA and the client pair load


# --- in-cluster ------------------------------------------------------------------------------


def test_in_cluster_reads_the_service_account_and_a_rotated_token(tmp_path: Path) -> None:
    ca, _ = _pem_pair("cluster-ca")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_bytes(ca)
    (account / "namespace").write_text("scaivault-system\n")
    connection = load_connection(
        None, service_host="fd00::1", service_port=6443, service_account_dir=account
    )
    credentials = connection.credentials
    assert credentials.server == "https://[fd00::1]:6443"
    assert credentials.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert credentials.ca_file == str(account / "ca.crt")
    assert connection.default_namespace == "scaivault-system"
    assert connection.source == "in-cluster service account"
    assert connection.expiration is None  # kept until a 401

    # the kubelet rotated the token: a 401 for the old one makes the new one read
    clock = Clock()
    connection = KubeConnection(
        in_cluster_loader("10.0.0.1", 443, service_account_dir=account), clock=clock
    )
    (account / "token").write_text(TOKEN + "-rotated")
    clock.advance(RETRY_SECONDS)
    fresh = asyncio.run(connection.refresh(stale=connection.credentials))
    assert fresh.headers() == {"Authorization": f"Bearer {TOKEN}-rotated"}


# --- when credentials are fetched again ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakePackage:
    """Stands for what the kubernetes package does for an exec plugin: a Configuration
    whose hook runs the plugin again (a new token, ``lifetime`` seconds valid)."""

    def __init__(self, clock: Clock, lifetime: float | None = 20.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.plugin_runs = 0
        self.loads = 0
        self.fail = False

    def run_plugin(self, loaded: SimpleNamespace) -> None:
        if self.fail:
            raise RuntimeError("exec: process returned 1")
        self.plugin_runs += 1
        loaded.configuration.api_key = {"BearerToken": f"Bearer token-{self.plugin_runs}"}
        loaded.expires = (
            self.clock() + dt.timedelta(seconds=self.lifetime) if self.lifetime else None
        )

    def load(self) -> Loaded:
        self.loads += 1
        state = SimpleNamespace(expires=None)
        state.configuration = SimpleNamespace(
            host="https://k.example",
            api_key={},
            api_key_prefix={},
            ssl_ca_cert=None,
            cert_file=None,
            key_file=None,
            verify_ssl=True,
            tls_server_name=None,
            refresh_api_key_hook=lambda _config: self.run_plugin(state),
        )
        self.run_plugin(state)
        return Loaded(state.configuration, "default", "fake", lambda: state.expires)


def test_an_exec_credential_is_fetched_again_shortly_before_it_expires() -> None:
    clock = Clock()
    package = FakePackage(clock, lifetime=20)
    connection = KubeConnection(package.load, clock=clock)
    first = connection.credentials
    assert first.headers() == {"Authorization": "Bearer token-1"}
    assert connection.expiration == NOW + dt.timedelta(seconds=16)  # 4/5 of its life

    async def scenario() -> None:
        clock.advance(15)
        assert await connection.current() is first  # still good: nothing runs
        clock.advance(1.5)
        # many callers at once: the plugin runs once
        answers = await asyncio.gather(*(connection.current() for _ in range(10)))
        assert {a.headers()["Authorization"] for a in answers} == {"Bearer token-2"}
        assert package.plugin_runs == 2 and package.loads == 1

    asyncio.run(scenario())

    # a long-lived credential is renewed a minute ahead
    package.lifetime = 3600
    clock.advance(20)
    asyncio.run(connection.current())
    assert connection.expiration == clock() + dt.timedelta(seconds=3600 - 60)


def test_a_failed_refresh_keeps_the_credential_and_is_retried_after_a_pause() -> None:
    clock = Clock()
    package = FakePackage(clock)
    connection = KubeConnection(package.load, clock=clock)
    clock.advance(17)
    package.fail = True
    with pytest.raises(RuntimeError):
        asyncio.run(connection.current())
    assert connection.credentials.headers()["Authorization"] == "Bearer token-1"
    assert not connection.due()
    clock.advance(RETRY_SECONDS)
    package.fail = False
    assert asyncio.run(connection.current()).headers()["Authorization"] == "Bearer token-2"


def test_an_already_expired_answer_does_not_make_a_loop() -> None:
    clock = Clock()
    package = FakePackage(clock, lifetime=-30)  # the plugin hands out stale credentials
    connection = KubeConnection(package.load, clock=clock)
    assert not connection.due()
    clock.advance(RETRY_SECONDS)
    assert connection.due()


def test_credentials_without_expiry_are_looked_at_again_every_minute() -> None:
    clock = Clock()
    package = FakePackage(clock, lifetime=None)
    connection = KubeConnection(package.load, clock=clock)
    assert connection.expiration is None
    clock.advance(59)
    assert not connection.due()
    clock.advance(1)
    assert connection.due()


def test_refused_credentials_are_loaded_again_once() -> None:
    clock = Clock()
    package = FakePackage(clock, lifetime=None)
    connection = KubeConnection(package.load, clock=clock)
    refused = connection.credentials

    async def scenario() -> None:
        # just loaded: the same answer would come back, so nothing is loaded
        assert await connection.refresh(stale=refused) is refused
        clock.advance(RETRY_SECONDS)
        answers = await asyncio.gather(*(connection.refresh(stale=refused) for _ in range(5)))
        assert package.loads == 2  # one reload for every caller
        assert {a.headers()["Authorization"] for a in answers} == {"Bearer token-2"}
        clock.advance(RETRY_SECONDS)
        # the refused ones were already replaced: nothing more is loaded
        assert not (await connection.refresh(stale=refused)).same_login(refused)
        assert package.loads == 2

    asyncio.run(scenario())


# --- the client's retry after a 401 ----------------------------------------------------------


@pytest.fixture
async def apiserver() -> AsyncIterator[tuple[str, set[str], list[str]]]:
    """Accepts the Authorization headers in its set; records those it saw."""
    accepted = {"Bearer token-2"}
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") not in accepted:
            return web.json_response({"reason": "Unauthorized", "message": "nope"}, status=401)
        return web.json_response({"kind": "NamespaceList", "items": []})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", accepted, seen
    await runner.cleanup()


async def test_a_401_loads_the_credentials_again_and_retries_once(
    apiserver: tuple[str, set[str], list[str]],
) -> None:
    url, accepted, seen = apiserver
    clock = Clock()
    package = FakePackage(clock, lifetime=None)

    def load() -> Loaded:
        loaded = package.load()
        loaded.configuration.host = url
        return loaded

    client = KubeClient(KubeConnection(load, clock=clock))
    try:
        clock.advance(RETRY_SECONDS)
        assert (await client.get("/api/v1/namespaces"))["kind"] == "NamespaceList"
        assert seen == ["Bearer token-1", "Bearer token-2"]
        assert package.loads == 2

        # refused again right after a load: the 401 is raised, nothing is loaded again
        accepted.clear()
        with pytest.raises(UnauthorizedError):
            await client.get("/api/v1/namespaces")
        assert package.loads == 2
        assert seen[2:] == ["Bearer token-2"]
    finally:
        await client.close()


def test_the_context_setting_comes_from_the_environment_or_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCAIVAULT_KUBE_CONTEXT", "from-env")
    monkeypatch.setenv("KUBECONFIG", f"/a{os.pathsep}/b")
    assert Settings.load().kube.context == "from-env"
    assert Settings.load(kube_context="from-flag").kube.context == "from-flag"
    assert Settings.load().kube.config == f"/a{os.pathsep}/b"  # the whole list


async def test_new_tls_material_makes_a_new_session() -> None:
    """An exec plugin may print a new client certificate: the next request makes a new
    TLS context (the old session is closed); the same material keeps the session."""
    clock = Clock()
    client = KubeClient(KubeConnection(FakePackage(clock).load, clock=clock))
    try:
        first = Credentials(server="https://k.example", verify=False)
        session = await client.session_for(first)
        same = await client.session_for(Credentials(server="https://k.example", verify=False))
        assert same is session
        insecure_with_ca = Credentials(server="https://k.example", verify=False, ca_file="x")
        other = await client.session_for(insecure_with_ca)
        assert other is not session and session.closed and not other.closed
    finally:
        await client.close()
