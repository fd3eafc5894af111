"""AWS web identity on the dev environment's moto: boto3's own web identity credentials
(``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``, as on EKS) exchange a real
ServiceAccount token of the test apiserver for the role whose trust policy names that
ServiceAccount, and read that role's prefix only. Every other token is refused as
STS refuses it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import STS_AUDIENCE, MotoServer, read_policy

from .accounts import Team, assert_not_echoed, claims_of, longer_lived, new_team


@dataclass
class Tenant:
    """A team's namespace, the role its ServiceAccount may assume, and its secret."""

    team: Team
    role_arn: str
    secret: str


@pytest.fixture
def provider(moto_server: MotoServer, control_plane: ControlPlane) -> Iterator[str]:
    """The IAM OIDC provider of the test apiserver's issuer."""
    issuer, ca_pem = control_plane.service_account_issuer, control_plane.ca_file.read_text()
    try:
        yield moto_server.add_oidc_provider(issuer, ca_pem)
    finally:
        moto_server.shift_token_clock(0)
        moto_server.cap_sessions(None)


def tenant(server: MotoServer, cp: ControlPlane, provider: str, label: str) -> Tenant:
    team = new_team(cp, label)
    policy = read_policy([server.secret_arn_prefix(f"{team.namespace}/")])
    role = server.add_web_identity_role(f"{team.namespace}-reader", provider, team.subject, policy)
    secret = f"{team.namespace}/db"
    server.client("secretsmanager").create_secret(
        Name=secret, SecretString=f"value of {team.namespace}"
    )
    return Tenant(team, role, secret)


def sts(server: MotoServer) -> Any:
    """An STS client without credentials: AssumeRoleWithWebIdentity is unsigned."""
    config = Config(signature_version=UNSIGNED)
    return boto3.client(
        "sts", endpoint_url=server.endpoint, region_name=server.region, config=config
    )


def assume(server: MotoServer, role_arn: str, token: str, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = sts(server).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="sync", WebIdentityToken=token, **kwargs
    )
    return answer


def refusal(server: MotoServer, role_arn: str, token: str) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        assume(server, role_arn, token)
    error = caught.value.response
    assert_not_echoed(token, str(error))
    status = error["ResponseMetadata"]["HTTPStatusCode"]
    return status, error["Error"]["Code"], error["Error"]["Message"]


def secrets_client(server: MotoServer, credentials: dict[str, Any]) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_each_role_reads_its_own_prefix_and_not_the_other(
    moto_server: MotoServer,
    control_plane: ControlPlane,
    provider: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = (tenant(moto_server, control_plane, provider, label) for label in ("aws-a", "aws-b"))
    token_file = tmp_path / "token"
    token_file.write_text(a.team.token(STS_AUDIENCE))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ROLE_ARN", a.role_arn)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.endpoint)
    moto_server.reset_exchanges()

    client = boto3.session.Session(region_name=moto_server.region).client("secretsmanager")

    assert client.get_secret_value(SecretId=a.secret)["SecretString"] == (
        f"value of {a.team.namespace}"
    )
    with pytest.raises(ClientError) as denied:
        client.get_secret_value(SecretId=b.secret)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    batch = client.batch_get_secret_value(SecretIdList=[a.secret, b.secret])
    assert [v["Name"] for v in batch["SecretValues"]] == [a.secret]
    assert [(e["SecretId"], e["ErrorCode"]) for e in batch["Errors"]] == [
        (b.secret, "AccessDeniedException")
    ]
    listed = client.list_secrets(Filters=[{"Key": "name", "Values": [a.secret, b.secret]}])
    assert {s["Name"] for s in listed["SecretList"]} == {a.secret, b.secret}
    assert moto_server.exchanges() == {"granted": {a.role_arn: 1}, "refused": {}}


def test_each_refused_token_is_refused_as_sts_does(
    moto_server: MotoServer, control_plane: ControlPlane, provider: str
) -> None:
    server = moto_server
    a, b = (tenant(server, control_plane, provider, label) for label in ("aws-a", "aws-b"))
    good = a.team.token(STS_AUDIENCE)
    unknown_issuer = jwt.encode(
        {**claims_of(good), "iss": "https://127.0.0.1:1"}, "k" * 32, algorithm="HS256"
    )
    server.reset_exchanges()
    answers = {
        "apiserver audience": refusal(server, a.role_arn, a.team.token()),
        "not registered": refusal(
            server,
            a.role_arn,
            a.team.token(STS_AUDIENCE, account=a.team.other_account("stranger")),
        ),
        "another namespace": refusal(server, a.role_arn, b.team.token(STS_AUDIENCE)),
        "tampered": refusal(server, a.role_arn, longer_lived(good)),
        "unknown issuer": refusal(server, a.role_arn, unknown_issuer),
        "not a JWT": refusal(server, a.role_arn, "not-a-jwt"),
    }
    server.shift_token_clock(601)  # TokenRequest's shortest life is 600 s
    answers["expired"] = refusal(server, a.role_arn, good)
    server.shift_token_clock(0)

    codes = {what: (status, code) for what, (status, code, _) in answers.items()}
    assert codes == {
        "apiserver audience": (400, "InvalidIdentityToken"),
        "not registered": (403, "AccessDenied"),
        "another namespace": (403, "AccessDenied"),
        "tampered": (400, "InvalidIdentityToken"),
        "unknown issuer": (400, "InvalidIdentityToken"),
        "not a JWT": (400, "InvalidIdentityToken"),
        "expired": (400, "ExpiredTokenException"),
    }
    assert answers["apiserver audience"][2] == "Incorrect token audience"
    assert answers["unknown issuer"][2].startswith("No OpenIDConnect provider found")
    assert answers["expired"][2].startswith("Token expired: current date/time")
    assert server.exchanges() == {
        "granted": {},
        "refused": {"InvalidIdentityToken": 4, "AccessDenied": 2, "ExpiredTokenException": 1},
    }
    assert "Credentials" in assume(server, a.role_arn, good)  # the clock is back


def test_sessions_last_duration_seconds_or_the_cap_and_expire(
    moto_server: MotoServer, control_plane: ControlPlane, provider: str
) -> None:
    a = tenant(moto_server, control_plane, provider, "aws-a")
    token = a.team.token(STS_AUDIENCE)

    asked = assume(moto_server, a.role_arn, token, DurationSeconds=900)["Credentials"]
    assert 890 < asked["Expiration"].timestamp() - time.time() <= 900

    moto_server.cap_sessions(2)
    short = assume(moto_server, a.role_arn, token, DurationSeconds=900)["Credentials"]
    client = secrets_client(moto_server, short)
    assert client.get_secret_value(SecretId=a.secret)["SecretString"]
    time.sleep(2.5)
    with pytest.raises(ClientError) as expired:
        client.get_secret_value(SecretId=a.secret)
    assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"


def test_a_role_that_does_not_exist_is_refused(
    moto_server: MotoServer, control_plane: ControlPlane, provider: str
) -> None:
    a = tenant(moto_server, control_plane, provider, "aws-a")
    missing = f"arn:aws:iam::{moto_server.account_id}:role/{uuid.uuid4().hex}"

    assert refusal(moto_server, missing, a.team.token(STS_AUDIENCE))[:2] == (403, "AccessDenied")
