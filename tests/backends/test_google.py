"""Google Secret Manager specifics beyond the shared contract: ``latest``, listing, identity."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.secretmanager_v1 import types
from google.oauth2 import service_account

from scaivault_devenv import gsm_emulator
from scaivault_devenv.gsm import GoogleEmulator, make_service_account_key
from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)
from scaivault_federation.backends.google.auth import (
    CLOUD_PLATFORM,
    grpc_target,
    open_client,
    plan_connection,
)
from scaivault_federation.backends.google.backend import (
    GoogleSecretManagerBackend,
    _map_error,
    _name_filter,
    crc32c,
)
from scaivault_federation.backends.google.config import GoogleConfig
from scaivault_federation.backends.google.names import google_name

from .harness_google import key_credentials, put_value

CANARY = "google-secret-canary-41d7"
#: no credentials Secret, in a namespace allowed the operator's own identity
AMBIENT = Credentials({}, ambient=True)


@pytest.fixture
async def opened() -> AsyncIterator[list[GoogleSecretManagerBackend]]:
    backends: list[GoogleSecretManagerBackend] = []
    yield backends
    for backend in backends:
        await backend.close()


def make(
    emulator: GoogleEmulator,
    opened: list[GoogleSecretManagerBackend],
    account: str | None = "reader",
    **options: Any,
) -> GoogleSecretManagerBackend:
    project = options.pop("project", emulator.project)
    credentials = key_credentials(emulator, account) if account else Credentials({})
    config = GoogleConfig(project=project, endpoint=emulator.endpoint)
    backend = GoogleSecretManagerBackend(config, credentials, **options)
    opened.append(backend)
    return backend


def prefix() -> str:
    return f"g-{uuid.uuid4().hex[:8]}/"


# -- against the emulator ----------------------------------------------------------------


async def test_latest_is_the_newest_version_even_when_disabled(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    path = f"{prefix()}db/password"
    secret_id = google_name(path)
    backend = make(gsm_emulator, opened)
    put_value(gsm_emulator, path, "v1")
    put_value(gsm_emulator, path, "v2")
    got = await backend.get_secret(path)
    assert (got.value, got.version) == ("v2", "2")

    gsm_emulator.disable_version(secret_id, 2)  # version 1 stays enabled, but is not latest
    with pytest.raises(SecretNotFoundError):
        await backend.get_secret(path)
    batch = await backend.get_many([path])
    assert batch.missing == [path] and not batch.failed

    put_value(gsm_emulator, path, "v3")  # a newer version wins again
    got = await backend.get_secret(path)
    assert (got.value, got.version) == ("v3", "3")

    gsm_emulator.destroy_version(secret_id, 3)
    with pytest.raises(SecretNotFoundError):
        await backend.get_secret(path)
    assert backend.calls.get("read", "not_found") == 3


async def test_a_secret_without_versions_is_not_found(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    path = f"{prefix()}empty"
    gsm_emulator.create_secret(google_name(path))
    with pytest.raises(SecretNotFoundError):
        await make(gsm_emulator, opened).get_secret(path)


async def test_an_expiry_is_listed_cleared_and_once_passed_the_secret_is_gone(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    root = prefix()
    path, kept = f"{root}short-lived", f"{root}kept"
    for each in (path, kept):
        put_value(gsm_emulator, each, "x")
    backend = make(gsm_emulator, opened)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    assert gsm_emulator.expire(google_name(kept), later) == later
    assert gsm_emulator.expire(google_name(kept), None) is None
    assert [r.expires_at for r in await backend.list_secrets(root)] == [None, None]

    when = datetime.now(UTC) + timedelta(seconds=2)
    held = gsm_emulator.expire(google_name(path), when)
    assert held is not None and abs((held - when).total_seconds()) < 0.001
    refs = await backend.list_secrets(root)
    assert [(r.path, r.expires_at) for r in refs] == [(kept, None), (path, held)]
    await asyncio.sleep(max(0.0, (held - datetime.now(UTC)).total_seconds()) + 0.2)
    assert [r.path for r in await backend.list_secrets(root)] == [kept]
    with pytest.raises(SecretNotFoundError):
        await backend.get_secret(path)


async def test_listing_follows_every_page_one_call_each(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    root = prefix()
    paths = {f"{root}s{i}" for i in range(7)}
    for path in paths:
        put_value(gsm_emulator, path, "x")
    backend = make(gsm_emulator, opened, page_size=2)
    refs = await backend.list_secrets(root)
    assert {ref.path for ref in refs} == paths
    assert all(ref.version is None and ref.updated_at is None for ref in refs)
    assert backend.calls.get("list") == 4  # 2 + 2 + 2 + 1


async def test_listing_filters_by_prefix_on_the_server_and_here(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    root = prefix()
    wanted = {f"{root}app/a", f"{root}app/deep/b"}
    decoys = [f"{root}app2/c", f"{root}apps", f"other/{root}app/d"]  # the last one's id contains
    for path in [*wanted, *decoys]:  # the prefix's encoding: only our own check drops it
        put_value(gsm_emulator, path, "x")
    gsm_emulator.put(google_name(f"{root}app/e") + "_", "not produced by the naming rule")
    for i in range(6):  # unrelated secrets the filter keeps off our pages
        put_value(gsm_emulator, f"{root}zz/s{i}", "x")

    backend = make(gsm_emulator, opened, page_size=4)
    assert {ref.path for ref in await backend.list_secrets(f"{root}app/")} == wanted
    assert backend.calls.get("list") == 1  # 4 of the 13 ids match the filter: one page
    everything = {ref.path for ref in await backend.list_secrets("")}
    assert wanted | set(decoys) <= everything


async def test_values_are_text_when_utf8_and_bytes_otherwise(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    root = prefix()
    put_value(gsm_emulator, f"{root}json", {"user": "u", "password": CANARY})
    put_value(gsm_emulator, f"{root}text", "héllo\n")
    put_value(gsm_emulator, f"{root}blob", b"\xff\x00\xfe")
    backend = make(gsm_emulator, opened)
    batch = await backend.get_many([f"{root}json", f"{root}text", f"{root}blob", f"{root}none"])
    assert batch.found[f"{root}json"].value == f'{{"user": "u", "password": "{CANARY}"}}'
    assert batch.found[f"{root}text"].value == "héllo\n"
    assert batch.found[f"{root}blob"].value == b"\xff\x00\xfe"
    assert batch.missing == [f"{root}none"]
    assert backend.calls.get("read") == 4


async def test_a_path_without_a_secret_id_is_a_config_error(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    backend = make(gsm_emulator, opened)
    with pytest.raises(InvalidBackendConfigError):
        await backend.get_secret("a/" + "x" * 300)
    assert backend.calls.total() == 0


async def test_permission_denied_is_an_authentication_error(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    path = f"{prefix()}guarded"
    put_value(gsm_emulator, path, CANARY)
    viewer = make(gsm_emulator, opened, account="viewer")
    assert [ref.path for ref in await viewer.list_secrets(path.rsplit("/", 1)[0] + "/")] == [path]
    with pytest.raises(AuthenticationError) as caught:
        await viewer.get_secret(path)
    assert CANARY not in str(caught.value)
    assert viewer.calls.get("read", "auth_failed") == 1

    elsewhere = make(gsm_emulator, opened, project="someone-elses-project")
    with pytest.raises(AuthenticationError):
        await elsewhere.probe()


async def test_no_credentials_against_an_authenticating_server_are_rejected(
    gsm_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    backend = make(gsm_emulator, opened, account=None)
    assert backend.plan.auth == "anonymous"
    with pytest.raises(AuthenticationError):
        await backend.probe()


@pytest.fixture(scope="module")
def anonymous_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleEmulator]:
    with GoogleEmulator(tmp_path_factory.mktemp("gsm-anon"), allow_anonymous=True) as emulator:
        yield emulator


async def test_an_emulator_without_authentication_is_reached_anonymously(
    anonymous_emulator: GoogleEmulator, opened: list[GoogleSecretManagerBackend]
) -> None:
    put_value(anonymous_emulator, "open/value", "v")
    backend = make(anonymous_emulator, opened, account=None)
    assert await backend.probe() > 0
    assert (await backend.get_secret("open/value")).value == "v"


# -- identity and transport (no server) ---------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (None, ("secretmanager.googleapis.com:443", True)),
        ("127.0.0.1:8085", ("127.0.0.1:8085", False)),
        ("localhost:8085", ("localhost:8085", False)),
        ("[::1]:8085", ("[::1]:8085", False)),
        ("http://gsm-emulator.dev.svc:8085", ("gsm-emulator.dev.svc:8085", False)),
        ("https://127.0.0.1:8443/", ("127.0.0.1:8443", True)),
        (
            "secretmanager.europe-west1.rep.googleapis.com",
            ("secretmanager.europe-west1.rep.googleapis.com:443", True),
        ),
        ("private.example.internal:9443", ("private.example.internal:9443", True)),
    ],
)
def test_endpoints_choose_tls_or_plaintext(
    endpoint: str | None, expected: tuple[str, bool]
) -> None:
    assert grpc_target(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint", ["ftp://x:1", "http://gsm-emulator", "host/path", "x:99999", "127.0.0.1"]
)
def test_unusable_endpoints_are_config_errors(endpoint: str) -> None:
    with pytest.raises(InvalidBackendConfigError):
        grpc_target(endpoint)


def service_account_json() -> tuple[bytes, str]:
    info, _ = make_service_account_key("proj", "unit")
    return json.dumps(info).encode(), info["private_key"]


def test_a_service_account_key_is_used_when_present() -> None:
    raw, private_key = service_account_json()
    plan = plan_connection(GoogleConfig(project="proj"), Credentials({"credentials.json": raw}))
    assert (plan.target, plan.tls, plan.auth) == (
        "secretmanager.googleapis.com:443",
        True,
        "service-account",
    )
    assert isinstance(plan.credentials, service_account.Credentials)
    assert plan.credentials.scopes == [CLOUD_PLATFORM]
    assert plan.credentials.service_account_email == "unit@proj.iam.gserviceaccount.com"
    assert private_key not in repr(plan)


def test_application_default_credentials_are_used_when_no_key_is_given() -> None:
    plan = plan_connection(GoogleConfig(project="proj"), AMBIENT)
    assert (plan.tls, plan.auth, plan.credentials) == (True, "application-default", None)


async def test_application_default_credentials_are_looked_up_at_first_use(
    monkeypatch: pytest.MonkeyPatch, gsm_emulator: GoogleEmulator
) -> None:
    # ADC from a key file named by the standard variable, set only after the build
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    backend = GoogleSecretManagerBackend(GoogleConfig(project="proj"), AMBIENT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(gsm_emulator.key_path("reader")))
    client = await open_client(backend.plan)
    try:
        found = client.transport._credentials
        assert isinstance(found, service_account.Credentials)
        assert found.service_account_email.startswith("reader@")
        assert client.transport._host == "secretmanager.googleapis.com:443"
    finally:
        await client.transport.close()
    await backend.close()


async def test_missing_application_default_credentials_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    backend = GoogleSecretManagerBackend(GoogleConfig(project="proj"), AMBIENT)
    with pytest.raises(InvalidBackendConfigError, match="workload identity"):
        await backend.probe()
    await backend.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json " + CANARY.encode(),
        b'["a list"]',
        b'{"type": "service_account", "private_key": "' + CANARY.encode() + b'"}',
        b'{"type": "something_else", "secret": "' + CANARY.encode() + b'"}',
    ],
)
def test_broken_key_documents_are_config_errors_without_their_content(raw: bytes) -> None:
    with pytest.raises(InvalidBackendConfigError) as caught:
        plan_connection(GoogleConfig(project="p"), Credentials({"credentials.json": raw}))
    assert CANARY not in f"{caught.value} {caught.value!r}"


def test_a_key_is_never_sent_in_plaintext_off_the_machine() -> None:
    raw, _ = service_account_json()
    config = GoogleConfig(project="p", endpoint="http://gsm.example:8085")
    with pytest.raises(InvalidBackendConfigError, match="loopback"):
        plan_connection(config, Credentials({"credentials.json": raw}))
    plan = plan_connection(config, Credentials({}))
    assert (plan.tls, plan.auth) == (False, "anonymous")


@pytest.mark.parametrize(
    ("code", "operation", "expected"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "list", AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, "read", AuthenticationError),
        (grpc.StatusCode.NOT_FOUND, "read", SecretNotFoundError),
        (grpc.StatusCode.NOT_FOUND, "list", InvalidBackendConfigError),
        (grpc.StatusCode.FAILED_PRECONDITION, "read", SecretNotFoundError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "read", ThrottledError),
        (grpc.StatusCode.UNAVAILABLE, "probe", BackendUnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "list", BackendUnavailableError),
        (grpc.StatusCode.INVALID_ARGUMENT, "list", InvalidBackendConfigError),
    ],
)
def test_grpc_status_codes_map_to_backend_errors(
    code: grpc.StatusCode, operation: str, expected: type[Exception]
) -> None:
    exc = api_exceptions.from_grpc_status(code, f"server detail {CANARY}")
    error = _map_error(exc, operation, "apps/x")
    assert type(error) is expected
    assert CANARY not in str(error)


def test_a_refused_token_exchange_is_an_authentication_error() -> None:
    detail = "Getting metadata from plugin failed with error: ('invalid_grant: Invalid JWT', {})"
    exc = api_exceptions.from_grpc_status(grpc.StatusCode.UNAVAILABLE, detail)
    assert isinstance(_map_error(exc, "list", "projects/p"), AuthenticationError)


def test_name_filter_is_a_substring_every_id_below_the_prefix_contains() -> None:
    assert _name_filter("") == ""
    for folder, child in [("apps/db", "password"), ("a_AB", "c"), ("x/tls.crt", "k_1")]:
        expected = _name_filter(folder + "/").removeprefix('name:"').removesuffix('"')
        assert expected in google_name(f"{folder}/{child}")


def test_name_filter_of_a_prefix_inside_a_segment() -> None:
    assert _name_filter("prod-") == 'name:"prod-"'
    assert _name_filter("gcp/prod-") == 'name:"gcp__prod-"'
    for prefix, child in [("prod-", "a"), ("gcp/db-", "main"), ("a_b/x_", "y"), ("t/é", "x")]:
        expected = _name_filter(prefix).removeprefix('name:"').removesuffix('"')
        assert expected in google_name(prefix + child)


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283 == gsm_emulator.crc32c(b"123456789")


# -- the emulator's list filter language ---------------------------------------------------


def test_emulator_filters_follow_the_documented_language() -> None:
    secret = {"name": "projects/1/secrets/mysecret-prod", "labels": {"env": "prod"}}
    yes = [
        "name:mysecret",
        "name:my*prod",
        "labels.env=prod",
        "labels.env:*",
        'name:"secret" AND labels.env=prod',
        "name:nope OR labels.env=prod",
        "NOT labels.env=dev",
        "-name:other",
        "(name:nope OR name:mysecret) labels.env:prod",
    ]
    no = ["name:other", "labels.env=dev", "labels.team:*", "name:mysecret AND NOT labels.env=prod"]
    for text in yes:
        assert gsm_emulator.compile_filter(text)(secret), text
    for text in no:
        assert not gsm_emulator.compile_filter(text)(secret), text
    for broken in ["name:", "(name:x", "unknown.field=1"]:
        with pytest.raises(gsm_emulator.RpcFailure):
            gsm_emulator.compile_filter(broken)(secret)


async def test_emulator_page_tokens_are_bound_to_their_filter(
    gsm_emulator: GoogleEmulator,
) -> None:
    root = prefix()
    for i in range(3):
        put_value(gsm_emulator, f"{root}s{i}", "x")
    admin = gsm_emulator.admin()
    text = f'name:"{google_name(root + "x")[:-1]}"'
    first = admin.list_secrets(
        request=types.ListSecretsRequest(parent=gsm_emulator.parent, page_size=2, filter=text)
    )
    token = first.next_page_token
    assert token and first.total_size == 0  # no total when a filter is set
    with pytest.raises(api_exceptions.InvalidArgument):
        admin.list_secrets(
            request=types.ListSecretsRequest(parent=gsm_emulator.parent, page_token=token)
        )


def test_emulator_state_dir_keys_are_private(gsm_emulator: GoogleEmulator) -> None:
    assert gsm_emulator.key_path("admin").stat().st_mode & 0o077 == 0
    assert Path(gsm_emulator.key_path("reader")).exists()
