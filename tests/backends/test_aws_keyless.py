"""Keyless AWS backends, built as the operator builds them (``connect`` with the real
apiserver's ServiceAccounts and TokenRequests): the ServiceAccount's token goes to the
STS endpoint of the operator's settings only, its role's keys are exchanged once and
shared by every backend of the account, a chained role is assumed with them, and an
account that is missing or did not opt in is refused before any request."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends import SecretBackend
from scaivault_federation.backends.aws.config import ROLE_ANNOTATION
from scaivault_federation.backends.bound_tokens import BoundTokens
from scaivault_federation.backends.credentials import connect
from scaivault_federation.backends.errors import (
    ServiceAccountNotFoundError,
    ServiceAccountNotOptedInError,
)
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.tokens import ServiceAccountStore
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import BackendSettings
from tests.e2e.listeners import JWT, listening
from tests.keyless import lend_account, new_namespace

from .harness_aws import put_secret

pytestmark = pytest.mark.usefixtures("control_plane")


@pytest.fixture(scope="module")
def open_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto accepting any signature: its STS gives any web identity the role it asks."""
    with MotoServer(tmp_path_factory.mktemp("moto-open"), iam_auth=False) as server:
        yield server


def spec(endpoint: str, region: str, account: str, **config: Any) -> BackendSpec:
    return BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": region, "endpoint": endpoint, "serviceAccount": account, **config},
            "pathMapping": {"a/**": "team/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )


class Keyless:
    """The operator's way to build backends, with the STS endpoint of its settings."""

    def __init__(self, kube: KubeClient, sts: str) -> None:
        self.tokens = BoundTokens(ServiceAccountStore(kube))
        settings = BackendSettings(aws_endpoint_url_sts=sts)
        self.environment = BackendEnvironment(settings=settings)
        self.opened: list[SecretBackend] = []

    async def connect(self, spec: BackendSpec, namespace: str, backend: str) -> SecretBackend:
        made = await connect(
            spec,
            namespace,
            backend,
            secrets=NoSecrets(),
            tokens=self.tokens,
            environment=self.environment,
        )
        self.opened.append(made)
        return made

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


class NoSecrets:
    async def get(self, namespace: str, name: str) -> None:
        raise AssertionError("a keyless backend reads no Secret")


@pytest.fixture
async def keyless(kube: KubeClient, open_moto: MotoServer) -> AsyncIterator[Keyless]:
    made = Keyless(kube, open_moto.endpoint)
    try:
        yield made
    finally:
        await made.close()


def role(server: MotoServer, name: str) -> str:
    iam = server.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    return arn


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


def team(cp: ControlPlane, server: MotoServer) -> tuple[str, str]:
    """A namespace whose ServiceAccount ``reader`` lends its tokens and names a role."""
    namespace = new_namespace(cp, "aws-keyless")
    arn = role(server, f"team-{uuid.uuid4().hex[:6]}")
    lend_account(cp, namespace, "reader", **{ROLE_ANNOTATION.replace("/", "__"): arn})
    return namespace, arn


async def test_the_accounts_role_reads_and_one_exchange_serves_its_backends(
    control_plane: ControlPlane, keyless: Keyless, open_moto: MotoServer
) -> None:
    namespace, arn = team(control_plane, open_moto)
    put_secret(open_moto.client("secretsmanager"), f"{namespace}/db", "keyless-value")
    config = spec(open_moto.endpoint, open_moto.region, "reader")
    first = await keyless.connect(config, namespace, "one")
    second = await keyless.connect(config, namespace, "two")
    for backend in (first, second):
        assert [r.path for r in await backend.list_secrets(f"{namespace}/")] == [f"{namespace}/db"]
        assert (await backend.get_secret(f"{namespace}/db")).value == "keyless-value"
    assert f"assumed-role/{arn.rsplit('/', 1)[1]}/scaivault.{namespace}.reader" in caller(
        open_moto, first
    )
    exchanges = first.calls.get("token_exchange") + second.calls.get("token_exchange")
    assert exchanges == 1 and list(keyless.tokens.exchanges.exchanges.values()) == [1]


async def test_the_token_goes_to_the_settings_sts_and_never_to_the_backends_endpoint(
    control_plane: ControlPlane, keyless: Keyless, open_moto: MotoServer
) -> None:
    namespace, _ = team(control_plane, open_moto)
    async with listening(500) as endpoint:
        backend = await keyless.connect(
            spec(endpoint.url, open_moto.region, "reader"), namespace, "b"
        )
        with pytest.raises(Exception):  # noqa: B017 - the stand-in answers 500
            await backend.probe()
        assert endpoint.requests >= 1 and backend.calls.get("token_exchange", "ok") == 1
        for received in endpoint.received:
            assert not JWT.search(received.text())  # signed with the role's keys only
            assert "AWS4-HMAC-SHA256" in received.headers["authorization"]


async def test_a_chained_role_is_assumed_with_the_accounts_keys(
    control_plane: ControlPlane, keyless: Keyless, open_moto: MotoServer
) -> None:
    namespace, _ = team(control_plane, open_moto)
    chained = role(open_moto, f"chained-{uuid.uuid4().hex[:6]}")
    config = spec(
        open_moto.endpoint, open_moto.region, "reader", roleArn=chained, externalId="ext-1"
    )
    backend = await keyless.connect(config, namespace, "b")
    await backend.list_secrets(f"{namespace}/")
    await backend.list_secrets(f"{namespace}/")
    assert backend.calls.get("token_exchange", "ok") == 1
    assert backend.calls.get("assume_role", "ok") == 1
    assert f"assumed-role/{chained.rsplit('/', 1)[1]}/" in caller(open_moto, backend)


async def test_an_account_missing_or_not_opted_in_is_refused_before_any_request(
    control_plane: ControlPlane, kube: KubeClient, tmp_path: Path
) -> None:
    namespace = new_namespace(control_plane, "aws-keyless")
    other = new_namespace(control_plane, "aws-other")
    arn = "arn:aws:iam::123456789012:role/team"
    annotation = {ROLE_ANNOTATION.replace("/", "__"): arn}
    lend_account(control_plane, namespace, "no-consent", token_for=None, **annotation)
    lend_account(control_plane, namespace, "for-another", token_for="another", **annotation)
    lend_account(control_plane, namespace, "no-role", token_for="*")
    lend_account(control_plane, other, "elsewhere", token_for="*", **annotation)
    cases: list[tuple[str, type[Exception]]] = [
        ("no-consent", ServiceAccountNotOptedInError),
        ("for-another", ServiceAccountNotOptedInError),
        ("no-role", ServiceAccountNotOptedInError),
        ("elsewhere", ServiceAccountNotFoundError),  # of another namespace
    ]
    async with listening(500) as endpoint, listening(500) as sts:
        made = Keyless(kube, sts.url)
        for account, error in cases:
            with pytest.raises(error):
                await made.connect(spec(endpoint.url, "us-east-1", account), namespace, "b")
        assert endpoint.requests == sts.requests == 0
