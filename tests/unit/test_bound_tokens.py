"""ServiceAccount tokens for Vault's kubernetes and jwt logins: only for accounts that
opted in for the backend, never the operator's own, never for the apiserver's own
audiences (learnt from a dry run) or a cloud's token exchange, and short-lived."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from scaivault_federation.backends.bound_tokens import (
    TOKEN_SECONDS,
    BoundTokens,
)
from scaivault_federation.backends.errors import InvalidBackendConfigError
from scaivault_federation.backends.vault.config import DEFAULT_AUDIENCE
from scaivault_federation.k8s.tokens import service_account_of
from scaivault_federation.labels import TOKEN_FOR_ANNOTATION
from scaivault_federation.models.token import IssuedToken

APISERVER = ("https://kubernetes.default.svc.cluster.local",)


@dataclass
class Accounts:
    """ServiceAccounts by (namespace, name) -> annotations, answering as the apiserver."""

    annotated: dict[tuple[str, str], dict[str, str]]
    own: tuple[str, str] | None = ("scaivault-system", "scaivault-federation")
    requests: list[tuple[str, str, tuple[str, ...], int, bool]] = field(default_factory=list)
    bind_to: tuple[str, ...] | None = None  # a misbehaving apiserver's answer

    async def annotations(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.annotated.get((namespace, name))

    async def request_token(
        self, namespace: str, name: str, audiences: Sequence[str], seconds: int, *, dry_run: bool
    ) -> IssuedToken | None:
        self.requests.append((namespace, name, tuple(audiences), seconds, dry_run))
        if (namespace, name) not in self.annotated:
            return None
        bound = (None if dry_run else self.bind_to) or tuple(audiences) or APISERVER
        return IssuedToken(f"jwt-of-{name}", bound)

    async def own_account(self) -> tuple[str, str] | None:
        return self.own

    def issued(self) -> list[tuple[str, str, tuple[str, ...], int, bool]]:
        return [r for r in self.requests if not r[4]]


def accounts(**annotations: str) -> Accounts:
    return Accounts(
        {
            ("team", name): ({TOKEN_FOR_ANNOTATION: value} if value else {})
            for name, value in annotations.items()
        }
        | {("scaivault-system", "scaivault-federation"): {TOKEN_FOR_ANNOTATION: "*"}}
        | {("scaivault-system", "shared"): {TOKEN_FOR_ANNOTATION: "clusterfederationbackend/cb"}}
    )


async def test_a_token_for_an_account_that_opted_in_for_the_backend() -> None:
    api = accounts(reader="other, vault-sync", anyone="*")
    tokens = BoundTokens(api)
    assert await tokens.issue("team", "reader", DEFAULT_AUDIENCE, "vault-sync") == "jwt-of-reader"
    assert await tokens.issue("team", "anyone", "vault-team", "x") == "jwt-of-anyone"
    assert api.issued() == [
        ("team", "reader", (DEFAULT_AUDIENCE,), TOKEN_SECONDS, False),
        ("team", "anyone", ("vault-team",), TOKEN_SECONDS, False),
    ]
    # the apiserver's audiences were asked once, as a dry run
    assert [r for r in api.requests if r[4]] == [("team", "reader", (), TOKEN_SECONDS, True)]
    assert TOKEN_SECONDS <= 600


async def test_no_token_without_the_opt_in() -> None:
    api = accounts(deployer="", reader="someone-else")
    tokens = BoundTokens(api)
    for account in ("deployer", "reader"):
        with pytest.raises(InvalidBackendConfigError) as caught:
            await tokens.issue("team", account, DEFAULT_AUDIENCE, "vault-sync")
        assert f'{TOKEN_FOR_ANNOTATION}: "vault-sync"' in caught.value.message
    with pytest.raises(InvalidBackendConfigError, match="not found"):
        await tokens.issue("team", "ghost", DEFAULT_AUDIENCE, "vault-sync")
    assert api.requests == []


async def test_never_the_operators_own_account() -> None:
    api = accounts()
    tokens = BoundTokens(api)
    for owner in ("cluster_cb", "vault-in-ops-namespace"):
        with pytest.raises(InvalidBackendConfigError, match="operator's own"):
            await tokens.issue("scaivault-system", "scaivault-federation", DEFAULT_AUDIENCE, owner)
    assert api.requests == []
    # another account of the operator's namespace, opted in for the cluster backend
    assert (
        await tokens.issue("scaivault-system", "shared", DEFAULT_AUDIENCE, "cluster_cb")
        == "jwt-of-shared"
    )
    with pytest.raises(InvalidBackendConfigError, match="clusterfederationbackend/other"):
        await tokens.issue("scaivault-system", "shared", DEFAULT_AUDIENCE, "cluster_other")


async def test_never_a_protected_account() -> None:
    """The API runs as its own account: the operator's is named to it as protected."""
    api = accounts()
    tokens = BoundTokens(api, frozenset({("scaivault-system", "shared")}))
    with pytest.raises(InvalidBackendConfigError, match="operator's own"):
        await tokens.issue("scaivault-system", "shared", DEFAULT_AUDIENCE, "cluster_cb")
    assert api.requests == []


@pytest.mark.parametrize(
    "audience",
    [
        *APISERVER,  # learnt from the apiserver
        "https://kubernetes.default.svc",
        "kubernetes",
        "sts.amazonaws.com",
        "api://AzureADTokenExchange",
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
    ],
)
async def test_never_for_the_apiservers_or_a_clouds_audience(audience: str) -> None:
    api = accounts(reader="*")
    with pytest.raises(InvalidBackendConfigError, match=r"config\.audience"):
        await BoundTokens(api).issue("team", "reader", audience, "b")
    assert api.issued() == []


async def test_a_token_bound_to_other_audiences_is_not_used() -> None:
    api = accounts(reader="*")
    api.bind_to = ("vault", "extra")
    with pytest.raises(InvalidBackendConfigError, match="other audiences"):
        await BoundTokens(api).issue("team", "reader", DEFAULT_AUDIENCE, "b")


def test_the_operators_own_account_is_read_from_its_token() -> None:
    def jwt(claims: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"

    sub = "system:serviceaccount:scaivault-system:scaivault-federation"
    assert service_account_of(jwt({"sub": sub})) == ("scaivault-system", "scaivault-federation")
    assert service_account_of(jwt({"sub": "alice@example.com"})) is None
    assert service_account_of(jwt({"sub": "system:serviceaccount:only-namespace"})) is None
    assert service_account_of("not.a-jwt.at-all") is None
