"""Which Secrets a backend may read as credentials, and what each must hold: decided
before any client is built, so a Secret without its keys never lets a backend reach
for the operator's own identity; messages name keys, never values."""

from __future__ import annotations

from typing import Any

import pytest

from scaivault_federation.backends.credentials import connect, load_credentials
from scaivault_federation.backends.errors import InvalidBackendConfigError
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.backends.tenancy import TenancyPolicy
from scaivault_federation.backends.workload_identity import WorkloadIdentity
from scaivault_federation.labels import CREDENTIALS_LABEL
from scaivault_federation.models.config import WorkloadIdentityLogin
from scaivault_federation.models.secret import LocalSecret
from scaivault_federation.models.spec import BackendSpec

CANARY = "canary-credential-value-7f3a"
OPT_IN = {CREDENTIALS_LABEL: "true"}


def spec(kind: str, config: dict[str, Any]) -> BackendSpec:
    return BackendSpec.model_validate(
        {
            "type": kind,
            "config": config,
            "pathMapping": {"a/**": "team/**"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )


class Secrets:
    def __init__(self, *secrets: LocalSecret) -> None:
        self.by_name = {s.name: s for s in secrets}

    async def get(self, namespace: str, name: str) -> LocalSecret | None:
        return self.by_name.get(name)


class NoTokens:
    async def issue(self, namespace: str, service_account: str, audience: str, backend: str) -> str:
        raise AssertionError("no token may be asked for")

    async def workload_identity(
        self, namespace: str, login: WorkloadIdentityLogin, backend: str
    ) -> WorkloadIdentity:
        raise AssertionError("no ServiceAccount may be asked for")


def secret(name: str, data: dict[str, str], **kwargs: Any) -> LocalSecret:
    return LocalSecret(name=name, data={k: v.encode() for k, v in data.items()}, **kwargs)


async def load(backend: BackendSpec, *secrets: LocalSecret) -> Any:
    return await load_credentials(Secrets(*secrets), NoTokens(), "tenant", backend, "b")


VAULT_TOKEN = spec("hashicorp-vault", {"endpoint": "https://v", "authConfigPath": "c/v"})


async def test_a_secret_without_the_label_is_not_read() -> None:
    with pytest.raises(InvalidBackendConfigError) as caught:
        await load(VAULT_TOKEN, secret("c-v", {"token": CANARY}))
    message = caught.value.message
    assert "config.authConfigPath" in message and f'{CREDENTIALS_LABEL}: "true"' in message
    assert CANARY not in message
    other = secret("c-v", {"token": CANARY}, labels={CREDENTIALS_LABEL: "yes"})
    with pytest.raises(InvalidBackendConfigError, match="not a credentials Secret"):
        await load(VAULT_TOKEN, other)


@pytest.mark.parametrize(
    "kind",
    [
        "kubernetes.io/service-account-token",
        "kubernetes.io/dockercfg",
        "kubernetes.io/dockerconfigjson",
        "bootstrap.kubernetes.io/token",
    ],
)
async def test_kubernetes_credential_types_are_never_read_even_labelled(kind: str) -> None:
    found = secret("c-v", {"token": CANARY}, labels=OPT_IN, type=kind)
    with pytest.raises(InvalidBackendConfigError, match=kind) as caught:
        await load(VAULT_TOKEN, found)
    assert CANARY not in caught.value.message


async def test_labelled_opaque_basic_auth_and_tls_secrets_are_read() -> None:
    for kind in ("Opaque", "kubernetes.io/basic-auth", "kubernetes.io/tls"):
        loaded = await load(VAULT_TOKEN, secret("c-v", {"token": CANARY}, labels=OPT_IN, type=kind))
        assert loaded.get("token") == CANARY.encode()
        assert not loaded.ambient


@pytest.mark.parametrize(
    ("backend", "missing"),
    [
        (
            spec("aws-secrets-manager", {"region": "r", "credentialsPath": "c/v"}),
            "'access_key_id', 'secret_access_key'",
        ),
        (
            spec("google-secret-manager", {"project": "p", "credentialsPath": "c/v"}),
            "'credentials.json'",
        ),
        (
            spec(
                "azure-key-vault",
                {"vaultUrl": "https://v.vault.azure.net", "credentialsPath": "c/v"},
            ),
            "'client_secret'",
        ),
        (
            spec(
                "hashicorp-vault",
                {"endpoint": "https://v", "authMethod": "aws", "authConfigPath": "c/v"},
            ),
            "'access_key_id', 'secret_access_key'",
        ),
        (
            spec(
                "hashicorp-vault",
                {"endpoint": "https://v", "authMethod": "approle", "authConfigPath": "c/v"},
            ),
            "'role_id', 'secret_id'",
        ),
        (
            spec(
                "hashicorp-vault",
                {
                    "endpoint": "https://v",
                    "authMethod": "kubernetes",
                    "role": "r",
                    "authConfigPath": "c/v",
                },
            ),
            "'token'",
        ),
        (
            spec(
                "hashicorp-vault",
                {"endpoint": "https://v", "caCertPath": "c/v", "authConfigPath": "c/v"},
            ),
            "'ca.crt'",
        ),
    ],
)
async def test_a_secret_without_the_keys_its_method_needs_is_invalid(
    backend: BackendSpec, missing: str
) -> None:
    # holds something, and an empty value under a needed key: still missing
    found = secret(
        "c-v", {"unrelated": CANARY, "secret_access_key": "", "token": CANARY}, labels=OPT_IN
    )
    if "'token'" in missing:
        found = secret("c-v", {"unrelated": CANARY, "token": ""}, labels=OPT_IN)
    if "ca.crt" in missing:
        found = secret("c-v", {"token": CANARY}, labels=OPT_IN)
    with pytest.raises(InvalidBackendConfigError) as caught:
        await load(backend, found)
    message = caught.value.message
    assert f"lacks the key{'s' if ',' in missing else ''} {missing}" in message
    assert CANARY not in message


async def test_only_a_config_naming_no_secret_is_ambient() -> None:
    assert (await load(spec("aws-secrets-manager", {"region": "r"}))).ambient
    keys = secret("c-v", {"access_key_id": "AKID", "secret_access_key": CANARY}, labels=OPT_IN)
    named = spec("aws-secrets-manager", {"region": "r", "credentialsPath": "c/v"})
    assert not (await load(named, keys)).ambient


async def test_a_keyless_secret_in_an_allowed_namespace_is_still_refused_before_any_client() -> (
    None
):
    environment = BackendEnvironment(tenancy=TenancyPolicy(operator_namespace="tenant"))
    empty = secret("c-v", {}, labels=OPT_IN)
    for backend in (
        spec("aws-secrets-manager", {"region": "r", "credentialsPath": "c/v"}),
        spec("google-secret-manager", {"project": "p", "credentialsPath": "c/v"}),
        spec(
            "hashicorp-vault",
            {"endpoint": "https://v", "authMethod": "aws", "authConfigPath": "c/v"},
        ),
    ):
        with pytest.raises(InvalidBackendConfigError, match="lacks the key"):
            await connect(
                backend,
                "tenant",
                "b",
                secrets=Secrets(empty),
                tokens=NoTokens(),
                environment=environment,
            )


def test_every_client_refuses_the_default_chain_unless_allowed() -> None:
    # the last line of defence: the clients themselves, handed no keys and no allowance
    from scaivault_federation.backends.aws.keys import static_aws_keys
    from scaivault_federation.backends.azure.auth import choose_credential
    from scaivault_federation.backends.azure.config import AzureConfig
    from scaivault_federation.backends.base import Credentials
    from scaivault_federation.backends.google.auth import plan_connection
    from scaivault_federation.backends.google.config import GoogleConfig

    none = Credentials({})
    with pytest.raises(InvalidBackendConfigError, match="'access_key_id', 'secret_access_key'"):
        static_aws_keys(none)
    with pytest.raises(InvalidBackendConfigError, match=r"'credentials\.json'"):
        plan_connection(GoogleConfig(project="p"), none)
    azure = AzureConfig(vault_url="https://v.vault.azure.net")
    with pytest.raises(InvalidBackendConfigError, match="'client_secret'"):
        choose_credential(azure, none, env={"AZURE_FEDERATED_TOKEN_FILE": "/t"})
    allowed = Credentials({}, ambient=True)
    assert static_aws_keys(allowed) is None
    assert plan_connection(GoogleConfig(project="p"), allowed).auth == "application-default"
    assert choose_credential(azure, allowed, env={}).kind == "managed_identity"
