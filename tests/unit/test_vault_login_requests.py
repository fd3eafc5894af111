"""The exact login requests of the Vault auth methods no local server can check:
``ldap`` (no LDAP directory here), ``aws`` (Vault would forward the signed
request to AWS STS) and ``gcp`` (Vault would fetch Google's public keys; GCE
metadata exists only on GCE).

A small recording HTTP server on 127.0.0.1 stands in for Vault (and, for GCE,
for the metadata server): it answers logins with a token and records every
request, so the tests see path, body and headers as sent over the wire.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hvac
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scaivault_devenv.gsm import make_service_account_key
from scaivault_federation.backends import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
    ThrottledError,
)
from scaivault_federation.backends.vault.auth.gcp import GcpAuth
from scaivault_federation.backends.vault.backend import VaultBackend
from scaivault_federation.backends.vault.config import GcpAuthType, VaultAuthMethod, VaultConfig

LOGIN_TOKEN = "s.recorded-login-token"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from
    ``answers`` (by path), else like Vault: a token for logins, 200 for the rest."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: dict[str, Answer] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                outer.requests.append(
                    Recorded(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length) if length else b"",
                    )
                )
                answer = outer.answer(self.command, parts.path)
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, method: str, path: str) -> Answer:
        if path in self.answers:
            return self.answers[path]
        if "/login" in path:
            auth = {"client_token": LOGIN_TOKEN, "lease_duration": 600}
            return Answer(200, json.dumps({"auth": auth}).encode())
        if path.endswith("/revoke-self"):
            return Answer(204)
        return Answer(200, b'{"data": {"id": "self"}}')

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def vault() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


async def probe_and_close(
    server: RecordingServer, credentials: dict[str, bytes], ambient: bool = False, **config: Any
) -> VaultBackend:
    backend = VaultBackend(
        VaultConfig(endpoint=server.url, **config), Credentials(credentials, ambient=ambient)
    )
    try:
        await backend.probe()
    finally:
        await backend.close()
    return backend


def assert_token_use(server: RecordingServer) -> None:
    """The login carried no token; the calls after it carried the login's token."""
    login, lookup, revoke = server.requests[-3:]
    assert "x-vault-token" not in login.headers
    assert login.headers["x-vault-request"] == "true"
    assert lookup.headers["x-vault-token"] == LOGIN_TOKEN
    assert revoke.headers["x-vault-token"] == LOGIN_TOKEN
    assert [f"{r.method} {r.path}" for r in (lookup, revoke)] == [
        "GET /v1/auth/token/lookup-self",
        "POST /v1/auth/token/revoke-self",
    ]


# -- ldap ------------------------------------------------------------------------------------


async def test_ldap_posts_the_password_to_the_users_login_path(vault: RecordingServer) -> None:
    backend = await probe_and_close(
        vault,
        {"username": b"alice\n", "password": b"ldap-secret-0cd2"},
        auth_method=VaultAuthMethod.LDAP,
        auth_mount="ldap-corp",
        namespace="team-a",
    )

    login = vault.requests[0]
    assert f"{login.method} {login.path}" == "POST /v1/auth/ldap-corp/login/alice"
    assert login.json() == {"password": "ldap-secret-0cd2"}
    assert login.headers["x-vault-namespace"] == "team-a"
    assert_token_use(vault)
    assert backend.calls.snapshot() == {("login", "ok"): 1, ("probe", "ok"): 1, ("revoke", "ok"): 1}


async def test_ldap_default_mount_and_refusal(vault: RecordingServer) -> None:
    vault.answers["/v1/auth/ldap/login/bob"] = Answer(
        400, b'{"errors": ["ldap operation failed: ldap-secret-echo"]}'
    )
    backend = VaultBackend(
        VaultConfig(endpoint=vault.url, auth_method=VaultAuthMethod.LDAP),
        Credentials({"username": b"bob", "password": b"ldap-secret-echo"}),
    )
    with pytest.raises(AuthenticationError) as caught:
        await backend.probe()
    await backend.close()

    assert str(caught.value) == "login rejected at 'auth/ldap/login' (HTTP 400)"
    assert vault.paths() == ["POST /v1/auth/ldap/login/bob"]  # nothing to revoke


def test_ldap_needs_username_and_password() -> None:
    for credentials, named in (({"password": b"p"}, "username"), ({"username": b"u"}, "password")):
        with pytest.raises(InvalidBackendConfigError, match=named):
            VaultBackend(
                VaultConfig(endpoint="http://127.0.0.1:1", auth_method=VaultAuthMethod.LDAP),
                Credentials(credentials),
            )


# -- aws -------------------------------------------------------------------------------------

ACCESS_KEY = "AKIDEXAMPLE0123"
SECRET_KEY = "aws-secret-key-canary-51f0"
SESSION_TOKEN = "aws-session-token-canary-9ab4"


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(
    secret: str, region: str, method: str, url: str, body: str, headers: dict[str, str]
) -> tuple[str, str]:
    """SigV4 worked out independently of botocore: (signed header names, signature)."""
    parts = urlsplit(url)
    lowered = {k.lower(): v.strip() for k, v in headers.items() if k.lower() != "authorization"}
    lowered["host"] = parts.netloc
    names = sorted(lowered)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "",
            "".join(f"{n}:{lowered[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body.encode()).hexdigest(),
        ]
    )
    stamp = lowered["x-amz-date"]
    scope = f"{stamp[:8]}/{region}/sts/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _sign(f"AWS4{secret}".encode(), stamp[:8])
    for part in (region, "sts", "aws4_request"):
        key = _sign(key, part)
    return ";".join(names), hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def decoded_iam_login(login: Recorded) -> tuple[dict[str, Any], str, str, dict[str, str]]:
    body = login.json()
    url = base64.b64decode(body["iam_request_url"]).decode()
    sts_body = base64.b64decode(body["iam_request_body"]).decode()
    headers = json.loads(base64.b64decode(body["iam_request_headers"]))
    return body, url, sts_body, headers


async def test_aws_login_is_a_sigv4_signed_get_caller_identity(vault: RecordingServer) -> None:
    backend = await probe_and_close(
        vault,
        {
            "access_key_id": ACCESS_KEY.encode(),
            "secret_access_key": SECRET_KEY.encode(),
            "session_token": SESSION_TOKEN.encode(),
        },
        auth_method=VaultAuthMethod.AWS,
        auth_mount="aws-prod",
        role="reader",
        sts_region="eu-west-1",
        iam_server_id_header="vault.example.internal",
    )

    login = vault.requests[0]
    assert f"{login.method} {login.path}" == "POST /v1/auth/aws-prod/login"
    body, url, sts_body, headers = decoded_iam_login(login)
    assert set(body) == {
        "iam_http_request_method",
        "iam_request_url",
        "iam_request_body",
        "iam_request_headers",
        "role",
    }
    assert body["iam_http_request_method"] == "POST"
    assert body["role"] == "reader"
    assert url == "https://sts.eu-west-1.amazonaws.com/"
    assert sts_body == "Action=GetCallerIdentity&Version=2011-06-15"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert headers["X-Vault-AWS-IAM-Server-ID"] == "vault.example.internal"
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN
    signed_at = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=2)

    names, signature = expected_signature(SECRET_KEY, "eu-west-1", "POST", url, sts_body, headers)
    assert names == "content-type;host;x-amz-date;x-amz-security-token;x-vault-aws-iam-server-id"
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{headers['X-Amz-Date'][:8]}/eu-west-1/sts/"
        f"aws4_request, SignedHeaders={names}, Signature={signature}"
    )
    assert SECRET_KEY.encode() not in login.body  # the secret key signs; it is never sent
    assert_token_use(vault)
    assert backend.calls.snapshot() == {("login", "ok"): 1, ("probe", "ok"): 1, ("revoke", "ok"): 1}


async def test_aws_defaults_sign_for_the_global_endpoint(vault: RecordingServer) -> None:
    await probe_and_close(
        vault,
        {"access_key_id": ACCESS_KEY.encode(), "secret_access_key": SECRET_KEY.encode()},
        auth_method=VaultAuthMethod.AWS,
    )

    login = vault.requests[0]
    assert login.path == "/v1/auth/aws/login"
    body, url, sts_body, headers = decoded_iam_login(login)
    assert "role" not in body
    assert url == "https://sts.amazonaws.com/"
    assert "X-Amz-Security-Token" not in headers and "X-Vault-AWS-IAM-Server-ID" not in headers
    names, signature = expected_signature(SECRET_KEY, "us-east-1", "POST", url, sts_body, headers)
    assert names == "content-type;host;x-amz-date"
    assert headers["Authorization"].endswith(f"SignedHeaders={names}, Signature={signature}")
    assert "/us-east-1/sts/aws4_request" in headers["Authorization"]


async def test_aws_without_keys_uses_the_default_chain(
    vault: RecordingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # the environment is the first link of botocore's chain; nothing else is asked
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRON")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))

    await probe_and_close(vault, {}, ambient=True, auth_method=VaultAuthMethod.AWS, role="r")

    _, url, sts_body, headers = decoded_iam_login(vault.requests[0])
    assert "Credential=AKIDFROMENVIRON/" in headers["Authorization"]
    _, signature = expected_signature(SECRET_KEY, "us-east-1", "POST", url, sts_body, headers)
    assert headers["Authorization"].endswith(f"Signature={signature}")


async def test_aws_without_keys_and_not_allowed_the_default_chain_sends_nothing(
    vault: RecordingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # a credentials Secret without the keys: the operator's keys in the environment
    # are never used, and Vault hears nothing
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRON")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InvalidBackendConfigError, match="'access_key_id', 'secret_access_key'"):
        await probe_and_close(vault, {"other": b"x"}, auth_method=VaultAuthMethod.AWS, role="r")
    assert vault.requests == []


def test_aws_session_token_alone_is_rejected() -> None:
    with pytest.raises(InvalidBackendConfigError, match="session_token") as caught:
        VaultBackend(
            VaultConfig(endpoint="http://127.0.0.1:1", auth_method=VaultAuthMethod.AWS),
            Credentials({"session_token": SESSION_TOKEN.encode()}),
        )
    assert SESSION_TOKEN not in str(caught.value)


# -- gcp -------------------------------------------------------------------------------------


def verify_rs256(jwt: str, public_pem: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of ``jwt`` after checking its RS256 signature."""
    head, payload, signature = jwt.split(".")

    def part(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(part(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(part(head)), json.loads(part(payload))


async def test_gcp_iam_login_sends_a_jwt_signed_with_the_service_account_key(
    vault: RecordingServer,
) -> None:
    info, public_pem = make_service_account_key("proj-1", "vault-reader")
    backend = await probe_and_close(
        vault,
        {"credentials.json": json.dumps(info).encode()},
        auth_method=VaultAuthMethod.GCP,
        auth_mount="gcp-prod",
        role="reader",
    )

    login = vault.requests[0]
    assert f"{login.method} {login.path}" == "POST /v1/auth/gcp-prod/login"
    body = login.json()
    assert set(body) == {"role", "jwt"} and body["role"] == "reader"
    header, claims = verify_rs256(body["jwt"], public_pem)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": info["private_key_id"]}
    assert claims["sub"] == "vault-reader@proj-1.iam.gserviceaccount.com"
    assert claims["aud"] == "vault/reader"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 120
    assert info["private_key"].encode() not in login.body
    assert_token_use(vault)
    assert backend.calls.get("login", "ok") == 1


async def test_gcp_gce_asks_the_metadata_server_only_when_configured(
    vault: RecordingServer,
) -> None:
    identity = "eyJhbGciOiJSUzI1NiJ9.gce-identity.sig"
    path = "/computeMetadata/v1/instance/service-accounts/default/identity"
    vault.answers[path] = Answer(200, identity.encode(), {"Content-Type": "text/plain"})
    config = VaultConfig(
        endpoint=vault.url,
        auth_method=VaultAuthMethod.GCP,
        gcp_auth_type=GcpAuthType.GCE,
        role="reader",
    )
    # the recording server stands in for the metadata server, on loopback
    method = GcpAuth(config, Credentials({}, ambient=True), None, metadata_url=vault.url)
    call = await method.login_call()
    answer = await asyncio.to_thread(call, hvac.Client(url=vault.url))

    assert answer["auth"]["client_token"] == LOGIN_TOKEN
    metadata, login = vault.requests
    assert f"{metadata.method} {metadata.path}" == f"GET {path}"
    assert metadata.query == {"audience": ["vault/reader"], "format": ["full"]}
    assert metadata.headers["metadata-flavor"] == "Google"
    assert f"{login.method} {login.path}" == "POST /v1/auth/gcp/login"
    assert login.json() == {"role": "reader", "jwt": identity}


def test_gcp_gce_is_refused_where_the_operators_identity_is_not_allowed(
    vault: RecordingServer,
) -> None:
    config = VaultConfig(
        endpoint=vault.url,
        auth_method=VaultAuthMethod.GCP,
        gcp_auth_type=GcpAuthType.GCE,
        role="reader",
    )
    with pytest.raises(InvalidBackendConfigError, match="own identity"):
        GcpAuth(config, Credentials({}), None, metadata_url=vault.url)
    assert vault.requests == []


async def test_gcp_iam_never_asks_a_metadata_server(vault: RecordingServer) -> None:
    info, _ = make_service_account_key("p", "a")
    config = VaultConfig(endpoint=vault.url, auth_method=VaultAuthMethod.GCP, role="r")
    method = GcpAuth(
        config,
        Credentials({"credentials.json": json.dumps(info).encode()}),
        None,
        metadata_url=vault.url,
    )
    await asyncio.to_thread(await method.login_call(), hvac.Client(url=vault.url))

    assert vault.paths() == ["POST /v1/auth/gcp/login"]


def test_gcp_needs_a_role_and_a_service_account_key() -> None:
    info, _ = make_service_account_key("p", "a")
    broken = {**info, "private_key": "-----BEGIN PRIVATE KEY-----\nbroken-key-canary\n"}
    cases: list[tuple[dict[str, Any], dict[str, bytes], str]] = [
        ({}, {"credentials.json": json.dumps(info).encode()}, "role"),
        ({"role": "r"}, {}, "credentials.json"),
        ({"role": "r"}, {"credentials.json": b"{not json"}, "credentials.json"),
        ({"role": "r"}, {"credentials.json": b'{"type": "authorized_user"}'}, "service-account"),
        ({"role": "r"}, {"credentials.json": json.dumps(broken).encode()}, "private_key"),
    ]
    for config, credentials, named in cases:
        with pytest.raises(InvalidBackendConfigError, match=named) as caught:
            VaultBackend(
                VaultConfig(
                    endpoint="http://127.0.0.1:1", auth_method=VaultAuthMethod.GCP, **config
                ),
                Credentials(credentials),
            )
        assert "canary" not in str(caught.value)


# -- answers hvac turns into exceptions -------------------------------------------------------


async def test_vault_answers_map_to_typed_errors_without_the_body(vault: RecordingServer) -> None:
    canary = b"response-body-canary-77e1"
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    answers = {
        "/v1/auth/token/lookup-self": Answer(
            429, b'{"errors": ["' + canary + b'"]}', {"Retry-After": later}
        ),
    }
    vault.answers.update(answers)
    backend = VaultBackend(VaultConfig(endpoint=vault.url), Credentials({"token": b"t"}))
    try:
        with pytest.raises(ThrottledError) as throttled:
            await backend.probe()
        assert throttled.value.retry_after is not None and 10 < throttled.value.retry_after <= 20

        cases: list[tuple[Answer, type[BackendError], str]] = [
            (Answer(500, b'{"errors": ["' + canary + b'"]}'), BackendUnavailableError, "HTTP 500"),
            (Answer(503, b'{"errors": ["Vault is sealed"]}'), BackendUnavailableError, "sealed"),
            (Answer(412, b'{"errors": []}'), BackendUnavailableError, "HTTP 412"),
            (Answer(418, canary), BackendError, "unexpected answer at 'auth/token/lookup-self'"),
            (Answer(200, b"[" + canary + b"]"), BackendError, "malformed response"),
            (Answer(401, canary, {"Content-Type": "text/plain"}), AuthenticationError, "HTTP 401"),
        ]
        for answer, kind, says in cases:
            vault.answers["/v1/auth/token/lookup-self"] = answer
            with pytest.raises(kind, match=says) as caught:
                await backend.probe()
            assert canary.decode() not in f"{caught.value} {caught.value!r}"
    finally:
        await backend.close()
