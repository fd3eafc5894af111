"""AWS Secrets Manager specifics, against moto with IAM authentication on."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    Credentials,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)
from scaivault_federation.backends.aws.auth import RENEW_BEFORE
from scaivault_federation.backends.aws.backend import AwsSecretsManagerBackend, _ref
from scaivault_federation.backends.aws.config import AwsConfig
from scaivault_federation.backends.aws.errors import map_error
from scaivault_federation.backends.factory import create_backend

from .harness_aws import aws_config, key_credentials, put_secret

CANARY = "aws-secret-canary-93ab"

Factory = Callable[..., AwsSecretsManagerBackend]


@pytest.fixture
def admin(moto_server: MotoServer) -> Any:
    return moto_server.client("secretsmanager")


@pytest.fixture
async def make(moto_server: MotoServer) -> AsyncIterator[Factory]:
    """Builds backends on the shared moto server (admin keys unless told otherwise)."""
    opened: list[AwsSecretsManagerBackend] = []

    def factory(
        credentials: Credentials | None = None,
        renew_before: timedelta = RENEW_BEFORE,
        **config: Any,
    ) -> AwsSecretsManagerBackend:
        backend = AwsSecretsManagerBackend(
            aws_config(moto_server, **config),
            credentials or key_credentials(moto_server),
            renew_before=renew_before,
        )
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        await backend.close()


def prefix() -> str:
    return f"aws-{uuid.uuid4().hex[:10]}/"


def seed(admin: Any, base: str, n: int) -> list[str]:
    paths = [f"{base}s{i:03d}" for i in range(n)]
    for path in paths:
        put_secret(admin, path, {"n": path})
    return paths


# -- call counts -----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "list_calls", "batch_calls"), [(45, 1, 3), (230, 3, 12)])
async def test_full_listing_and_read_costs_pages_and_batches_only(
    moto_server: MotoServer, admin: Any, n: int, list_calls: int, batch_calls: int
) -> None:
    base = prefix()
    paths = seed(admin, base, n)
    backend = await create_backend(
        "aws-secrets-manager", aws_config(moto_server), key_credentials(moto_server)
    )
    assert isinstance(backend, AwsSecretsManagerBackend)
    try:
        await backend.probe()
        backend.calls.reset()

        refs = await backend.list_secrets(base)
        assert [r.path for r in refs] == paths
        assert backend.calls.snapshot() == {("list", "ok"): list_calls}

        batch = await backend.get_many([r.path for r in refs])
        assert sorted(batch.found) == paths and not batch.missing and not batch.failed
        assert json.loads(str(batch.found[paths[-1]].value)) == {"n": paths[-1]}
        assert backend.calls.get("batch_read") == batch_calls
        assert backend.calls.get("read") == 0
        assert backend.calls.total() == list_calls + batch_calls
    finally:
        await backend.close()


async def test_a_staging_label_pin_reads_that_stage_with_a_call_of_its_own(
    make: Factory, admin: Any
) -> None:
    base = prefix()
    put_secret(admin, f"{base}db", "v1")
    put_secret(admin, f"{base}db", "v2")
    put_secret(admin, f"{base}other", "o")
    backend = make()
    batch = await backend.get_many(
        [f"{base}db", f"{base}other"], versions={f"{base}db": "AWSPREVIOUS"}
    )
    assert batch.found[f"{base}db"].value == "v1"
    assert batch.found[f"{base}other"].value == "o"
    assert backend.calls.get("read") == 1 and backend.calls.get("batch_read") == 1
    current = await backend.get_secret(f"{base}db", "AWSCURRENT")
    assert current.value == "v2"
    assert current.version is not None
    by_id = await backend.get_secret(f"{base}db", current.version)
    assert by_id.value == "v2"


# -- listing ---------------------------------------------------------------------------


async def test_listing_gives_current_version_and_change_time(make: Factory, admin: Any) -> None:
    base = prefix()
    put_secret(admin, f"{base}db", "v1")
    put_secret(admin, f"{base}db", "v2")
    backend = make()
    (ref,) = await backend.list_secrets(base)
    current = await backend.get_secret(f"{base}db")
    assert current.value == "v2"
    assert ref.version is not None and ref.version == current.version
    assert ref.updated_at is not None
    assert abs(ref.updated_at - datetime.now(UTC)) < timedelta(minutes=5)
    # read as UTC (not through the local time zone), the instant AWS answers
    assert ref.updated_at.utcoffset() == timedelta(0)
    assert ref.updated_at == admin.describe_secret(SecretId=f"{base}db")["LastChangedDate"]


def test_listing_entries_scheduled_for_deletion_or_without_a_current_value_are_dropped() -> None:
    def entry(**fields: Any) -> Any:
        return {"Name": "p/a", "SecretVersionsToStages": {"v1": ["AWSCURRENT"]}, **fields}

    ref = _ref(entry(), "p/")
    assert ref is not None and ref.path == "p/a" and ref.version == "v1"
    assert _ref(entry(DeletedDate=datetime.now(UTC)), "p/") is None
    assert _ref(entry(SecretVersionsToStages={"v0": ["AWSPENDING"]}), "p/") is None
    assert _ref(entry(Name="p2/a"), "p/") is None


# -- credentials -----------------------------------------------------------------------


async def _role(moto_server: MotoServer, policy: dict[str, Any] | None = None) -> str:
    """A role the admin user may assume with the external id ``ext-<name>``."""
    iam = moto_server.client("iam")
    sts = moto_server.client("sts")
    name = f"reader-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": sts.get_caller_identity()["Arn"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{name}"}},
            }
        ],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    allow = policy or {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="sm", PolicyDocument=json.dumps(allow))
    return arn


async def test_assume_role_with_external_id(
    make: Factory, admin: Any, moto_server: MotoServer
) -> None:
    base = prefix()
    put_secret(admin, f"{base}token", CANARY)
    arn = await _role(moto_server)
    backend = make(role_arn=arn, external_id=f"ext-{arn.rsplit('/', 1)[1]}")
    assert await backend.probe() > 0
    assert [r.path for r in await backend.list_secrets(base)] == [f"{base}token"]
    assert (await backend.get_secret(f"{base}token")).value == CANARY
    assert backend.calls.get("assume_role", "ok") == 1  # reused until it ages


async def test_assumed_role_credentials_are_renewed_before_expiry(
    make: Factory, moto_server: MotoServer
) -> None:
    arn = await _role(moto_server)
    # credentials last an hour: with a two-hour margin every call finds them aging
    backend = make(
        role_arn=arn,
        external_id=f"ext-{arn.rsplit('/', 1)[1]}",
        renew_before=timedelta(hours=2),
    )
    await backend.probe()
    after_probe = backend.calls.get("assume_role", "ok")
    assert after_probe >= 1
    await backend.list_secrets(prefix())
    await backend.list_secrets(prefix())
    assert backend.calls.get("assume_role", "ok") == after_probe + 2  # once per call


async def test_wrong_external_id_is_an_authentication_error(
    make: Factory, moto_server: MotoServer
) -> None:
    arn = await _role(moto_server)
    backend = make(role_arn=arn, external_id="not-the-external-id")
    with pytest.raises(AuthenticationError) as caught:
        await backend.probe()
    assert "not-the-external-id" not in str(caught.value)
    assert moto_server.secret_access_key not in str(caught.value)
    assert backend.calls.get("assume_role", "auth_failed") == 1


async def test_a_role_without_permission_is_denied(make: Factory, moto_server: MotoServer) -> None:
    deny_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    arn = await _role(moto_server, deny_all)
    backend = make(role_arn=arn, external_id=f"ext-{arn.rsplit('/', 1)[1]}")
    with pytest.raises(AuthenticationError):
        await backend.list_secrets(prefix())


async def test_session_token_is_used(make: Factory, admin: Any, moto_server: MotoServer) -> None:
    base = prefix()
    put_secret(admin, f"{base}x", "1")
    arn = await _role(moto_server)
    issued = moto_server.client("sts").assume_role(
        RoleArn=arn, RoleSessionName="test", ExternalId=f"ext-{arn.rsplit('/', 1)[1]}"
    )["Credentials"]
    good = Credentials(
        {
            "access_key_id": issued["AccessKeyId"].encode(),
            "secret_access_key": issued["SecretAccessKey"].encode(),
            "session_token": issued["SessionToken"].encode() + b"\n",
        }
    )
    assert [r.path for r in await make(good).list_secrets(base)] == [f"{base}x"]
    forged = Credentials({**good.values, "session_token": b"forged-session-token"})
    with pytest.raises(AuthenticationError) as caught:
        await make(forged).probe()
    assert "forged-session-token" not in repr(caught.value.args)


async def test_default_chain_is_used_without_credentials(
    make: Factory, admin: Any, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = prefix()
    put_secret(admin, f"{base}x", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_server.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    backend = make(Credentials({}, ambient=True))  # a backend allowed the operator's identity
    assert [r.path for r in await backend.list_secrets(base)] == [f"{base}x"]


@pytest.mark.parametrize(
    "values",
    [
        {"access_key_id": b"AKIAONLYKEY"},
        {"secret_access_key": b"only-secret"},
        {"session_token": b"only-token"},
        {"access_key_id": b"AKIAKEY", "secret_access_key": b"  \n"},
    ],
)
async def test_incomplete_credentials_are_a_config_error(
    moto_server: MotoServer, values: dict[str, bytes]
) -> None:
    with pytest.raises(InvalidBackendConfigError):
        await create_backend("aws-secrets-manager", aws_config(moto_server), Credentials(values))


async def test_endpoint_must_be_an_http_url() -> None:
    with pytest.raises(ValidationError, match="the scheme must be http or https"):
        AwsConfig(region="us-east-1", endpoint="ftp://example.invalid")
    # a config made without the model's checks is refused before any client is made
    config = AwsConfig.model_construct(region="us-east-1", endpoint="ftp://example.invalid")
    with pytest.raises(InvalidBackendConfigError, match=r"config\.endpoint"):
        await create_backend("aws-secrets-manager", config, Credentials({}))


async def test_errors_never_carry_the_secret_key(make: Factory, moto_server: MotoServer) -> None:
    wrong = Credentials(
        {
            "access_key_id": moto_server.access_key_id.encode(),
            "secret_access_key": b"wrong-secret-canary",
        }
    )
    backend = make(wrong)
    for call in (backend.probe(), backend.get_secret("x/y"), backend.list_secrets("x/")):
        with pytest.raises(AuthenticationError) as caught:
            await call
        text = f"{caught.value} {caught.value!r}"
        assert "wrong-secret-canary" not in text and "<" not in text
    batch = await backend.get_many(["x/y"])
    assert isinstance(batch.failed["x/y"], AuthenticationError)


# -- error mapping ---------------------------------------------------------------------


def _client_error(code: str, status: int, message: str = CANARY, **headers: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return ClientError(response, "GetSecretValue")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDeniedException", 400, AuthenticationError),
        ("UnrecognizedClientException", 400, AuthenticationError),
        ("InvalidSignatureException", 400, AuthenticationError),
        ("ExpiredTokenException", 400, AuthenticationError),
        ("ResourceNotFoundException", 400, SecretNotFoundError),
        ("ThrottlingException", 400, ThrottledError),
        ("TooManyRequestsException", 429, ThrottledError),
        ("SomethingNew", 429, ThrottledError),
        ("InternalServiceError", 500, BackendUnavailableError),
        ("SomethingNew", 503, BackendUnavailableError),
        ("InvalidParameterException", 400, InvalidBackendConfigError),
        ("ValidationException", 400, InvalidBackendConfigError),
        ("InvalidRequestException", 400, InvalidBackendConfigError),
        ("403", 403, AuthenticationError),
        ("SomethingNew", 400, BackendError),
    ],
)
def test_client_errors_map_by_code(code: str, status: int, expected: type[BackendError]) -> None:
    error = map_error(_client_error(code, status), "GetSecretValue 'a/b'")
    assert type(error) is expected
    assert CANARY not in str(error)
    assert "GetSecretValue 'a/b'" in str(error)


def test_throttling_keeps_retry_after_and_deletion_is_not_found() -> None:
    error = map_error(_client_error("ThrottlingException", 400, **{"retry-after": "7"}), "op")
    assert isinstance(error, ThrottledError) and error.retry_after == 7.0 and error.retryable
    gone = _client_error("InvalidRequestException", 400, "it was marked for deletion")
    assert isinstance(map_error(gone, "op"), SecretNotFoundError)


def test_xml_error_bodies_give_only_their_code() -> None:
    body = f"<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>{CANARY}</Message>"
    error = map_error(_client_error("403", 403, body), "op")
    assert isinstance(error, AuthenticationError)
    assert "InvalidClientTokenId" in str(error) and CANARY not in str(error)


def test_botocore_never_logs_bodies_or_signatures() -> None:
    for name in ("botocore.auth", "botocore.endpoint", "botocore.parsers"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO


def test_transport_errors_are_unavailable() -> None:
    refused = EndpointConnectionError(endpoint_url=f"http://{CANARY}.invalid")
    timeout = ReadTimeoutError(endpoint_url=f"http://{CANARY}.invalid")
    for exc in (refused, timeout):
        error = map_error(exc, "op")
        assert isinstance(error, BackendUnavailableError) and error.retryable
        assert CANARY not in str(error)
