"""Keyless AWS backends, built as the operator builds them (``connect`` with the real
apiserver's ServiceAccounts and TokenRequests) against moto verifying web identity
tokens and per-secret permissions: each account's role reads its own prefix only,
the token goes to the STS endpoint of the operator's settings only, the role's keys
are exchanged once and shared by every backend of the account, a chained role is
assumed with them, STS's refusal is its own reason, and an account that is missing
or did not opt in is refused before any request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import MotoServer, read_policy
from scaivault_federation.backends import SecretBackend
from scaivault_federation.backends.aws.config import ROLE_ANNOTATION
from scaivault_federation.backends.errors import (
    AuthenticationError,
    BackendError,
    ServiceAccountNotFoundError,
    ServiceAccountNotOptedInError,
    TokenExchangeRefusedError,
)
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import BackendSettings
from tests.e2e.listeners import JWT, listening
from tests.keyless import Keyless, Team, keyless_spec, lend_account, new_namespace, opened

from .harness_aws import put_secret


def spec(endpoint: str, region: str, account: str, **config: Any) -> BackendSpec:
    return keyless_spec(
        "aws-secrets-manager",
        {"region": region, "endpoint": endpoint, "serviceAccount": account, **config},
    )


def environment(sts: str) -> BackendEnvironment:
    return BackendEnvironment(settings=BackendSettings(aws_endpoint_url_sts=sts))


@pytest.fixture
async def keyless(kube: KubeClient, moto_server: MotoServer) -> AsyncIterator[Keyless]:
    async with opened(kube, environment(moto_server.endpoint)) as made:
        yield made


@pytest.fixture
def provider(moto_server: MotoServer, control_plane: ControlPlane) -> str:
    """The IAM OIDC provider of the test apiserver's issuer."""
    issuer, ca_pem = control_plane.service_account_issuer, control_plane.ca_file.read_text()
    return moto_server.add_oidc_provider(issuer, ca_pem)


def team(
    cp: ControlPlane, server: MotoServer, provider: str, *actions: str, trusts: str = "reader"
) -> Team:
    """A namespace whose ServiceAccount ``reader`` lends its tokens and names a role that
    trusts the account ``trusts`` and reads the namespace's prefix (and may do
    ``actions``); the secret ``<namespace>/db`` in it."""
    namespace = new_namespace(cp, "aws-keyless")
    policy = read_policy([server.secret_arn_prefix(f"{namespace}/")])
    if actions:
        policy["Statement"].append({"Effect": "Allow", "Action": list(actions), "Resource": "*"})
    subject = f"system:serviceaccount:{namespace}:{trusts}"
    arn = server.add_web_identity_role(f"{namespace}-reader", provider, subject, policy)
    lend_account(cp, namespace, "reader", {ROLE_ANNOTATION: arn})
    put_secret(server.client("secretsmanager"), f"{namespace}/db", f"value of {namespace}")
    return Team(namespace, arn)


def caller(server: MotoServer, backend: SecretBackend) -> str:
    """The ARN the backend's current keys belong to."""
    keys = backend._session._client_keys  # type: ignore[attr-defined]
    sts = server.client(
        "sts",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
    )
    return str(sts.get_caller_identity()["Arn"])


async def test_each_accounts_role_reads_its_prefix_and_one_exchange_serves_its_backends(
    control_plane: ControlPlane, keyless: Keyless, moto_server: MotoServer, provider: str
) -> None:
    a, b = (team(control_plane, moto_server, provider) for _ in range(2))
    config = spec(moto_server.endpoint, moto_server.region, "reader")
    first = await keyless.connect(config, a.namespace, "one")
    second = await keyless.connect(config, a.namespace, "two")
    for backend in (first, second):
        assert (await backend.get_secret(f"{a.namespace}/db")).value == f"value of {a.namespace}"
        batch = await backend.get_many([f"{a.namespace}/db", f"{b.namespace}/db"])
        assert list(batch.found) == [f"{a.namespace}/db"]
        assert isinstance(batch.failed[f"{b.namespace}/db"], AuthenticationError)
        with pytest.raises(AuthenticationError):
            await backend.get_secret(f"{b.namespace}/db")
    role = a.identity.rsplit("/", 1)[1]
    assert f"assumed-role/{role}/scaivault.{a.namespace}.reader" in caller(moto_server, first)
    # one exchange for both backends; a denied read is the role's permission, not stale
    # keys, so nothing was exchanged again
    assert keyless.exchanges() == 1
    assert moto_server.exchanges()["granted"][a.identity] == 1


async def test_the_token_goes_to_the_settings_sts_and_never_to_the_backends_endpoint(
    control_plane: ControlPlane, keyless: Keyless, moto_server: MotoServer, provider: str
) -> None:
    a = team(control_plane, moto_server, provider)
    async with listening(500) as endpoint:
        backend = await keyless.connect(
            spec(endpoint.url, moto_server.region, "reader"), a.namespace, "b"
        )
        with pytest.raises(BackendError):  # the stand-in answers 500
            await backend.probe()
        assert endpoint.requests >= 1 and keyless.exchanges() == 1
        for received in endpoint.received:
            assert not JWT.search(received.text())  # signed with the role's keys only
            assert "AWS4-HMAC-SHA256" in received.headers["authorization"]


async def test_a_chained_role_is_assumed_with_the_accounts_keys(
    control_plane: ControlPlane, keyless: Keyless, moto_server: MotoServer, provider: str
) -> None:
    a = team(control_plane, moto_server, provider, "sts:AssumeRole")
    iam = moto_server.client("iam")
    # the operator's session of the account's role (moto compares principals as written)
    session = a.identity.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
    sessions = f"{session}/scaivault.{a.namespace}.reader"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": sessions}, "Action": "sts:AssumeRole"}
        ],
    }
    name = f"{a.namespace}-chained"
    chained = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    policy = read_policy([moto_server.secret_arn_prefix(f"{a.namespace}/")])
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(policy))
    config = spec(
        moto_server.endpoint,
        moto_server.region,
        "reader",
        roleArn=chained["Role"]["Arn"],
        externalId="ext-1",
    )
    backend = await keyless.connect(config, a.namespace, "b")
    for _ in range(2):
        assert (await backend.get_secret(f"{a.namespace}/db")).value == f"value of {a.namespace}"
    assert keyless.exchanges() == 2  # the account's role, and the chained one
    assert backend.calls.get("assume_role") == 0  # shared, so not the backend's own call
    assert f"assumed-role/{name}/" in caller(moto_server, backend)


async def test_sts_refusing_the_token_names_its_code_never_the_token(
    control_plane: ControlPlane, keyless: Keyless, moto_server: MotoServer, provider: str
) -> None:
    """The role's trust admits another account of the namespace, not this one."""
    a = team(control_plane, moto_server, provider, trusts="someone-else")
    backend = await keyless.connect(
        spec(moto_server.endpoint, moto_server.region, "reader"), a.namespace, "b"
    )
    for _ in range(2):  # a refusal is not kept: each call asks again
        with pytest.raises(TokenExchangeRefusedError) as caught:
            await backend.probe()
        message = caught.value.message
        assert "AccessDenied" in message and caught.value.reason == "TokenExchangeRefused"
        assert not JWT.search(message)
    assert backend.calls.snapshot() == {("probe", "auth_failed"): 2}  # failed at the token
    assert keyless.exchanges() == 0


async def test_an_account_missing_or_not_opted_in_is_refused_before_any_request(
    control_plane: ControlPlane, kube: KubeClient
) -> None:
    namespace = new_namespace(control_plane, "aws-keyless")
    other = new_namespace(control_plane, "aws-other")
    role = {ROLE_ANNOTATION: "arn:aws:iam::123456789012:role/team"}
    lend_account(control_plane, namespace, "no-consent", role, token_for=None)
    lend_account(control_plane, namespace, "for-another", role, token_for="another")
    lend_account(control_plane, namespace, "no-role")
    lend_account(control_plane, other, "elsewhere", role)
    cases: list[tuple[str, type[Exception]]] = [
        ("no-consent", ServiceAccountNotOptedInError),
        ("for-another", ServiceAccountNotOptedInError),
        ("no-role", ServiceAccountNotOptedInError),
        ("elsewhere", ServiceAccountNotFoundError),  # of another namespace
    ]
    async with listening(500) as endpoint, listening(500) as sts:
        made = Keyless(kube, environment(sts.url))
        for account, error in cases:
            with pytest.raises(error):
                await made.connect(spec(endpoint.url, "us-east-1", account), namespace, "b")
        assert endpoint.requests == sts.requests == 0
