"""Keyless logins: the ServiceAccount is checked link by link (it exists in the backend's
namespace, opted in for the backend, names a cloud identity, is none of the release's
own), each refusal with its own reason and no token requested; its tokens carry only a
cloud's exchange audience; what the exchange gives is kept per account and identity,
one exchange per credential lifetime however many callers ask at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from scaivault_federation import conditions as c
from scaivault_federation.backends.aws.sts import exchange_error
from scaivault_federation.backends.bound_tokens import TOKEN_SECONDS, BoundTokens
from scaivault_federation.backends.credentials import load_credentials
from scaivault_federation.backends.errors import (
    InvalidBackendConfigError,
    ServiceAccountNotFoundError,
    ServiceAccountNotOptedInError,
    TokenExchangeRefusedError,
)
from scaivault_federation.backends.registry import parse_config
from scaivault_federation.backends.workload_identity import ExchangeCache, Expiring
from scaivault_federation.labels import TOKEN_FOR_ANNOTATION
from scaivault_federation.models.config import WorkloadIdentityLogin
from scaivault_federation.models.secret import LocalSecret
from scaivault_federation.models.spec import BackendSpec
from tests.unit.test_bound_tokens import APISERVER, Accounts

ROLE = "eks.amazonaws.com/role-arn"
LOGIN = WorkloadIdentityLogin("reader", (ROLE,), ("optional/extra",))
ARN = "arn:aws:iam::123456789012:role/team-a"


def team(**accounts: dict[str, str]) -> Accounts:
    return Accounts(
        {("team", name): annotations for name, annotations in accounts.items()}
        | {("scaivault-system", "scaivault-federation"): {TOKEN_FOR_ANNOTATION: "*", ROLE: ARN}}
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(self.now + seconds, UTC)


# -- the account ----------------------------------------------------------------------


async def test_an_opted_in_account_naming_its_identity_is_lent_without_a_token() -> None:
    api = team(reader={TOKEN_FOR_ANNOTATION: "aws-a", ROLE: f" {ARN} ", "other": "x"})
    tokens = BoundTokens(api)
    identity = await tokens.workload_identity("team", LOGIN, "aws-a")
    assert (identity.namespace, identity.service_account, identity.backend) == (
        "team",
        "reader",
        "aws-a",
    )
    assert identity.annotations == {ROLE: ARN}  # what the login reads, trimmed
    assert identity.subject == "system:serviceaccount:team:reader"
    assert api.requests == []  # no token yet
    assert identity.cache is tokens.exchanges


@pytest.mark.parametrize(
    ("accounts", "error", "reason", "text"),
    [
        ({}, ServiceAccountNotFoundError, c.SERVICE_ACCOUNT_NOT_FOUND, "not found"),
        (
            {"reader": {ROLE: ARN}},
            ServiceAccountNotOptedInError,
            c.SERVICE_ACCOUNT_NOT_OPTED_IN,
            f'{TOKEN_FOR_ANNOTATION}: "aws-a"',
        ),
        (
            {"reader": {TOKEN_FOR_ANNOTATION: "aws-b", ROLE: ARN}},
            ServiceAccountNotOptedInError,
            c.SERVICE_ACCOUNT_NOT_OPTED_IN,
            f'{TOKEN_FOR_ANNOTATION}: "aws-a"',
        ),
        (
            {"reader": {TOKEN_FOR_ANNOTATION: "aws-a", ROLE: "  "}},
            ServiceAccountNotOptedInError,
            c.SERVICE_ACCOUNT_NOT_OPTED_IN,
            f"annotate it {ROLE}",
        ),
    ],
)
async def test_each_link_of_the_account_is_refused_with_its_own_reason(
    accounts: dict[str, dict[str, str]], error: type[Exception], reason: str, text: str
) -> None:
    api = team(**accounts)
    with pytest.raises(error) as caught:
        await BoundTokens(api).workload_identity("team", LOGIN, "aws-a")
    assert isinstance(caught.value, InvalidBackendConfigError)
    assert caught.value.reason == reason
    assert "config.serviceAccount" in caught.value.message and text in caught.value.message
    assert api.requests == []


async def test_never_the_releases_own_accounts() -> None:
    api = team()
    with pytest.raises(InvalidBackendConfigError, match="operator's own") as caught:
        await BoundTokens(api).workload_identity(
            "scaivault-system", WorkloadIdentityLogin("scaivault-federation", (ROLE,)), "cluster_x"
        )
    assert caught.value.reason == c.INVALID_CONFIG
    protected = team(reader={TOKEN_FOR_ANNOTATION: "*", ROLE: ARN})
    with pytest.raises(InvalidBackendConfigError, match="operator's own"):
        await BoundTokens(protected, frozenset({("team", "reader")})).workload_identity(
            "team", LOGIN, "aws-a"
        )
    assert api.requests == protected.requests == []


# -- its tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "audience",
    [
        "sts.amazonaws.com",
        "api://AzureADTokenExchange",
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
    ],
)
async def test_a_keyless_token_is_bound_to_the_clouds_exchange(audience: str) -> None:
    api = team(reader={TOKEN_FOR_ANNOTATION: "*", ROLE: ARN})
    identity = await BoundTokens(api).workload_identity("team", LOGIN, "aws-a")
    assert await identity.token(audience) == "jwt-of-reader"
    assert api.issued() == [("team", "reader", (audience,), TOKEN_SECONDS, False)]


@pytest.mark.parametrize("audience", [*APISERVER, "vault", "https://attacker.example", ""])
async def test_a_keyless_token_is_for_no_other_audience(audience: str) -> None:
    """Not the apiserver's, and not one a backend's endpoint would accept."""
    api = team(reader={TOKEN_FOR_ANNOTATION: "*", ROLE: ARN})
    identity = await BoundTokens(api).workload_identity("team", LOGIN, "aws-a")
    with pytest.raises(InvalidBackendConfigError, match="not the audience of a cloud"):
        await identity.token(audience)
    assert api.issued() == []


async def test_the_consent_is_checked_again_for_each_token() -> None:
    api = team(reader={TOKEN_FOR_ANNOTATION: "aws-a", ROLE: ARN})
    identity = await BoundTokens(api).workload_identity("team", LOGIN, "aws-a")
    api.annotated[("team", "reader")] = {ROLE: ARN}  # the namespace admin withdrew it
    with pytest.raises(ServiceAccountNotOptedInError):
        await identity.token("sts.amazonaws.com")
    del api.annotated[("team", "reader")]
    with pytest.raises(ServiceAccountNotFoundError):
        await identity.token("sts.amazonaws.com")
    assert api.issued() == []


async def test_vaults_logins_still_get_no_cloud_audience() -> None:
    """The attack: a Vault backend asking its token for a cloud's exchange, so that the
    endpoint its author chose receives a token the cloud accepts."""
    api = team(reader={TOKEN_FOR_ANNOTATION: "*", ROLE: ARN})
    for audience in ("sts.amazonaws.com", "api://AzureADTokenExchange"):
        with pytest.raises(InvalidBackendConfigError, match=r"config\.audience"):
            await BoundTokens(api).issue("team", "reader", audience, "vault")
    assert api.issued() == []


# -- loading ----------------------------------------------------------------------------


class NoSecrets:
    async def get(self, namespace: str, name: str) -> LocalSecret | None:
        raise AssertionError("a keyless backend reads no Secret")


async def test_a_keyless_config_loads_the_account_and_no_secret() -> None:
    api = team(reader={TOKEN_FOR_ANNOTATION: "aws-a", ROLE: ARN})
    spec = BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1", "serviceAccount": "reader"},
            "pathMapping": {"a/**": "team/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )
    credentials = await load_credentials(NoSecrets(), BoundTokens(api), "team", spec, "aws-a")
    assert credentials.workload_identity is not None
    assert credentials.workload_identity.annotations == {ROLE: ARN}
    assert not credentials.ambient and not credentials.values
    assert "reader" in repr(credentials)
    assert spec.config.ambient_identity() is None
    assert api.requests == []


# -- the cache ------------------------------------------------------------------------


class Exchanges:
    def __init__(self, clock: Clock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.made = 0

    async def __call__(self) -> Expiring[str]:
        self.made += 1
        await asyncio.sleep(0)  # others ask meanwhile
        return Expiring(f"keys-{self.made}", self.clock.at(self.lifetime))


async def test_one_exchange_per_lifetime_however_many_ask() -> None:
    clock = Clock()
    cache = ExchangeCache(clock)
    exchange = Exchanges(clock, 60)
    got = await asyncio.gather(*(cache.get("k", exchange) for _ in range(20)))
    assert set(got) == {"keys-1"} and exchange.made == 1
    clock.now += 44  # a quarter of a 60 s lifetime is left after 45 s
    assert await cache.get("k", exchange) == "keys-1"
    clock.now += 1
    assert await cache.get("k", exchange) == "keys-2"
    for _ in range(3):  # three more lifetimes
        clock.now += 45
        assert [await cache.get("k", exchange) for _ in range(5)] == [f"keys-{exchange.made}"] * 5
    assert exchange.made == 5 and cache.exchanges["k"] == 5


async def test_long_lived_credentials_are_renewed_five_minutes_before() -> None:
    clock = Clock()
    cache = ExchangeCache(clock)
    exchange = Exchanges(clock, 3600)
    await cache.get("k", exchange)
    clock.now += 3600 - 301
    await cache.get("k", exchange)
    clock.now += 2
    await cache.get("k", exchange)
    assert exchange.made == 2


async def test_keys_apart_and_a_refusal_of_what_is_kept() -> None:
    clock = Clock()
    cache = ExchangeCache(clock)
    first, second = Exchanges(clock, 600), Exchanges(clock, 600)
    a = await cache.get(("team", "reader", "role-a"), first)
    await cache.get(("team", "reader", "role-b"), second)
    assert (first.made, second.made) == (1, 1)
    cache.forget(("team", "reader", "role-a"), "an older value")  # already replaced: kept
    assert await cache.get(("team", "reader", "role-a"), first) == a
    cache.forget(("team", "reader", "role-a"), a)
    assert await cache.get(("team", "reader", "role-a"), first) == "keys-2"


async def test_a_failed_exchange_is_not_kept() -> None:
    clock = Clock()
    cache = ExchangeCache(clock)
    calls = 0

    async def refused() -> Expiring[Any]:
        nonlocal calls
        calls += 1
        raise InvalidBackendConfigError("refused")

    for _ in range(2):
        with pytest.raises(InvalidBackendConfigError):
            await cache.get("k", refused)
    assert calls == 2 and cache.exchanges["k"] == 0
    got = await cache.get("k", Exchanges(clock, 60))
    assert got == "keys-1"


# -- AWS: STS's answers ---------------------------------------------------------------


def sts_error(code: str, status: int, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AssumeRoleWithWebIdentity")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InvalidIdentityToken", 400),
        ("ExpiredTokenException", 400),
        ("IDPRejectedClaim", 403),
        ("AccessDenied", 403),
    ],
)
def test_sts_refusing_the_token_is_its_own_reason_with_the_code(code: str, status: int) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    error = exchange_error(sts_error(code, status, f"bad token {token}"), "AssumeRoleWith...", "x")
    assert isinstance(error, TokenExchangeRefusedError)
    assert error.reason == c.TOKEN_EXCHANGE_REFUSED and code in error.message
    assert token not in error.message and "eyJ" not in error.message


def test_sts_failing_to_reach_the_issuer_or_throttling_is_not_a_refusal() -> None:
    unreachable = exchange_error(sts_error("IDPCommunicationError", 400), "w", "x")
    assert unreachable.reason == c.BACKEND_UNAVAILABLE and unreachable.retryable
    assert exchange_error(sts_error("Throttling", 400), "w", "x").reason == c.THROTTLED


# -- the configs ----------------------------------------------------------------------

KEYLESS_CONFLICTS = [
    (
        "aws-secrets-manager",
        {"region": "us-east-1", "serviceAccount": "r", "credentialsPath": "c/aws"},
        "credentialsPath",
    ),
    (
        "azure-key-vault",
        {"vaultUrl": "https://v.vault.azure.net", "serviceAccount": "r", "clientId": "c"},
        "clientId",
    ),
    (
        "azure-key-vault",
        {"vaultUrl": "https://v.vault.azure.net", "serviceAccount": "r", "credentialsPath": "c"},
        "credentialsPath",
    ),
    (
        "google-secret-manager",
        {"project": "p", "serviceAccount": "r", "credentialsPath": "c/g"},
        "credentialsPath",
    ),
]
PROVIDER = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k"


def test_a_provider_without_a_service_account_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config(
            "google-secret-manager", {"project": "p", "workloadIdentityProvider": PROVIDER}
        )
    errors = caught.value.errors(include_input=False)
    assert [e["loc"] for e in errors] == [("workloadIdentityProvider",)]
    assert "only with serviceAccount" in errors[0]["msg"]
    for wrong in ("https://attacker.example/provider", "sts.amazonaws.com", PROVIDER + "/x"):
        with pytest.raises(ValidationError):
            parse_config(
                "google-secret-manager",
                {"project": "p", "serviceAccount": "r", "workloadIdentityProvider": wrong},
            )


@pytest.mark.parametrize(("kind", "config", "field"), KEYLESS_CONFLICTS)
def test_static_credentials_and_a_service_account_are_refused_naming_the_field(
    kind: str, config: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config(kind, config)
    errors = caught.value.errors(include_input=False)
    assert [e["loc"] for e in errors] == [(field,)]
    assert "not valid with serviceAccount" in errors[0]["msg"]
