"""What a namespace's backends may use: the operator's own identity only where the
settings allow it, remote prefixes where the settings limit them; decided
before any credential is read or any backend is contacted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from scaivault_federation.backends.credentials import connect
from scaivault_federation.backends.errors import InvalidBackendConfigError
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.backends.tenancy import (
    TenancyPolicy,
    check_tenancy,
    parse_selector,
)
from scaivault_federation.backends.workload_identity import WorkloadIdentity
from scaivault_federation.models.config import WorkloadIdentityLogin
from scaivault_federation.models.secret import LocalSecret
from scaivault_federation.models.spec import BackendSpec


def spec(kind: str, config: dict[str, Any], mapping: dict[str, str] | None = None) -> BackendSpec:
    return BackendSpec.model_validate(
        {
            "type": kind,
            "config": config,
            "pathMapping": mapping or {"a/**": "team/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )


AWS_AMBIENT = spec(
    "aws-secrets-manager", {"region": "us-east-1", "roleArn": "arn:aws:iam::1:role/r"}
)
AWS_KEYS = spec("aws-secrets-manager", {"region": "us-east-1", "credentialsPath": "c/aws"})


@pytest.mark.parametrize(
    ("backend", "ambient"),
    [
        (AWS_AMBIENT, True),
        (AWS_KEYS, False),
        (spec("azure-key-vault", {"vaultUrl": "https://v.vault.azure.net"}), True),
        (spec("google-secret-manager", {"project": "p"}), True),
        (spec("google-secret-manager", {"project": "p", "credentialsPath": "c/g"}), False),
        (spec("hashicorp-vault", {"endpoint": "https://v", "authMethod": "aws"}), True),
        (spec("hashicorp-vault", {"endpoint": "https://v", "authConfigPath": "c/v"}), False),
    ],
)
def test_which_configs_use_the_operators_identity(backend: BackendSpec, ambient: bool) -> None:
    assert (backend.config.ambient_identity() is not None) is ambient


class Labels:
    def __init__(self, by_namespace: Mapping[str, Mapping[str, str]]) -> None:
        self.by_namespace = by_namespace

    async def labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.by_namespace.get(namespace)


async def test_ambient_identity_only_where_allowed() -> None:
    policy = TenancyPolicy(
        operator_namespace="scaivault-system",
        ambient_namespaces=frozenset({"platform"}),
        ambient_selector=parse_selector("tenancy.example/ambient=yes"),
    )
    labels = Labels({"labelled": {"tenancy.example/ambient": "yes"}, "other": {"x": "y"}})
    for allowed in ("scaivault-system", "platform", "labelled"):
        await check_tenancy(AWS_AMBIENT, allowed, policy, labels)
    with pytest.raises(InvalidBackendConfigError) as caught:
        await check_tenancy(AWS_AMBIENT, "other", policy, labels)
    message = caught.value.message
    assert "'other'" in message and "roleArn" in message
    assert "ambient_identity_namespaces" in message  # says how to allow it
    await check_tenancy(AWS_KEYS, "other", policy, labels)  # own credentials: fine


async def test_remote_prefixes_per_namespace_and_type() -> None:
    policy = TenancyPolicy(
        remote_prefixes={
            "payments": {"aws-secrets-manager": ["payments/"]},
            "*": {"aws-secrets-manager": []},
        }
    )
    ok = spec(
        "aws-secrets-manager", {"region": "r", "credentialsPath": "c/a"}, {"x/**": "payments/**"}
    )
    outside = spec(
        "aws-secrets-manager", {"region": "r", "credentialsPath": "c/a"}, {"x/**": "billing/**"}
    )
    await check_tenancy(ok, "payments", policy)
    with pytest.raises(InvalidBackendConfigError, match="outside the prefixes"):
        await check_tenancy(outside, "payments", policy)
    with pytest.raises(InvalidBackendConfigError, match=r"\(none\)"):
        await check_tenancy(ok, "elsewhere", policy)
    vault = spec("hashicorp-vault", {"endpoint": "https://v", "authConfigPath": "c/v"})
    await check_tenancy(vault, "elsewhere", policy)  # no limit for that type


class NoSecrets:
    def __init__(self) -> None:
        self.reads = 0

    async def get(self, namespace: str, name: str) -> LocalSecret | None:
        self.reads += 1
        return None


class NoTokens:
    async def issue(self, namespace: str, service_account: str, audience: str, backend: str) -> str:
        raise AssertionError("no token may be asked for")

    async def workload_identity(
        self, namespace: str, login: WorkloadIdentityLogin, backend: str
    ) -> WorkloadIdentity:
        raise AssertionError("no ServiceAccount may be asked for")


async def test_connect_refuses_before_reading_any_credential() -> None:
    secrets = NoSecrets()
    environment = BackendEnvironment(tenancy=TenancyPolicy(operator_namespace="ops"))
    with pytest.raises(InvalidBackendConfigError, match="may not use"):
        await connect(
            AWS_AMBIENT, "tenant", "b", secrets=secrets, tokens=NoTokens(), environment=environment
        )
    metadata = spec(
        "hashicorp-vault", {"endpoint": "http://169.254.169.254", "authConfigPath": "c/v"}
    )
    with pytest.raises(InvalidBackendConfigError, match="link-local"):
        await connect(
            metadata, "ops", "b", secrets=secrets, tokens=NoTokens(), environment=environment
        )
    assert secrets.reads == 0


@pytest.mark.parametrize(
    ("backend", "allowed"),
    [
        (AWS_AMBIENT, True),  # the SDK's own endpoints
        (spec("aws-secrets-manager", {"region": "r", "endpoint": "https://x.amazonaws.com"}), True),
        (spec("aws-secrets-manager", {"region": "r", "endpoint": "https://evil.example"}), False),
        (
            spec("aws-secrets-manager", {"region": "r", "endpoint": "https://amazonaws.com.evil"}),
            False,
        ),
        (spec("google-secret-manager", {"project": "p"}), True),
        # a plaintext emulator on loopback gets no identity at all (anonymous)
        (spec("google-secret-manager", {"project": "p", "endpoint": "127.0.0.1:8085"}), True),
        (spec("google-secret-manager", {"project": "p", "endpoint": "https://127.0.0.9"}), False),
        (
            spec("google-secret-manager", {"project": "p", "endpoint": "https://tenant.example"}),
            False,
        ),
        (spec("azure-key-vault", {"vaultUrl": "https://v.vault.azure.net"}), True),
        (spec("azure-key-vault", {"vaultUrl": "https://vault.azure.net.evil.example"}), False),
        (spec("hashicorp-vault", {"endpoint": "https://v", "authMethod": "aws"}), False),
        (
            spec("hashicorp-vault", {"endpoint": "https://vault.corp:8200", "authMethod": "aws"}),
            True,
        ),
    ],
)
async def test_the_operators_identity_goes_to_the_clouds_own_endpoints_only(
    backend: BackendSpec, allowed: bool
) -> None:
    policy = TenancyPolicy(operator_namespace="ops", ambient_endpoints=("vault.corp",))
    if allowed:
        await check_tenancy(backend, "ops", policy)
        return
    with pytest.raises(InvalidBackendConfigError, match="ambient_identity_endpoints") as caught:
        await check_tenancy(backend, "ops", policy)
    assert "not an endpoint of the cloud itself" in caught.value.message


async def test_containers_are_fenced_per_namespace_and_field() -> None:
    policy = TenancyPolicy(
        remote_containers={
            "payments": {
                "google-secret-manager": {"project": ["payments-*"]},
                "hashicorp-vault": {"endpoint": ["https://vault.corp:8200"], "namespace": ["pay"]},
                "aws-secrets-manager": {"region": ["eu-west-1"], "roleArn": ["arn:aws:iam::1:*"]},
                "azure-key-vault": {"vaultUrl": ["https://payments.vault.azure.net"]},
            },
            "*": {"google-secret-manager": {"project": []}},
        }
    )
    keys = {"credentialsPath": "c/x"}
    ok = [
        spec("google-secret-manager", {"project": "payments-prod", **keys}),
        spec(
            "hashicorp-vault",
            {"endpoint": "https://vault.corp:8200", "namespace": "pay", "authConfigPath": "c"},
        ),
        spec("aws-secrets-manager", {"region": "eu-west-1", "roleArn": "arn:aws:iam::1:r", **keys}),
        spec("azure-key-vault", {"vaultUrl": "https://payments.vault.azure.net", **keys}),
    ]
    for backend in ok:
        await check_tenancy(backend, "payments", policy)
    refused = [
        (spec("google-secret-manager", {"project": "billing", **keys}), "config.project"),
        (
            spec("hashicorp-vault", {"endpoint": "https://vault.corp:8200", "authConfigPath": "c"}),
            "config.namespace ''",  # unset counts as empty: a limit on it requires it
        ),
        (
            spec(
                "aws-secrets-manager",
                {"region": "eu-west-1", "roleArn": "arn:aws:iam::2:r", **keys},
            ),
            "config.roleArn",
        ),
        (
            spec("azure-key-vault", {"vaultUrl": "https://other.vault.azure.net", **keys}),
            "config.vaultUrl",
        ),
    ]
    for backend, field in refused:
        with pytest.raises(InvalidBackendConfigError, match="outside what namespace") as caught:
            await check_tenancy(backend, "payments", policy)
        assert field in caught.value.message
    with pytest.raises(InvalidBackendConfigError, match=r"\(none\)"):
        await check_tenancy(ok[0], "elsewhere", policy)


def test_selectors_parse_or_name_the_bad_part() -> None:
    assert parse_selector("a=b, c=") == {"a": "b", "c": ""}
    with pytest.raises(ValueError, match="'nokey'"):
        parse_selector("a=b,nokey")
