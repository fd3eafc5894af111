"""Keyless Google backends, built as the operator builds them, against the Secret Manager
emulator's workload identity federation verifying ServiceAccount tokens against the
test apiserver's issuer: each account's Google service account reads its own prefix
only, one exchange serves every backend of the account, the STS's refusal is its own
reason with its OAuth code, impersonation refused is the identity's denial, and the
provider comes from the config or the operator's setting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.gsm import GoogleEmulator
from scaivault_federation.backends.errors import (
    AuthenticationError,
    InvalidBackendConfigError,
    TokenExchangeRefusedError,
)
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.backends.google.config import GSA_ANNOTATION
from scaivault_federation.backends.google.names import google_name
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.settings import BackendSettings
from tests.e2e.listeners import JWT
from tests.keyless import Keyless, Team, keyless_spec, lend_account, new_namespace, opened

from .harness_google import put_value


@dataclass(frozen=True)
class Pool:
    name: str
    provider: str


@pytest.fixture
def pool(gsm_emulator: GoogleEmulator, control_plane: ControlPlane) -> Pool:
    """A workload identity pool whose provider trusts the test apiserver."""
    issuer = control_plane.service_account_issuer
    gsm_emulator.trust_issuer(issuer, control_plane.ca_file.read_text())
    name = f"pool-{uuid.uuid4().hex[:8]}"
    return Pool(name, gsm_emulator.register_provider(name, "kubernetes", issuer))


def environment(server: GoogleEmulator, provider: str | None = None) -> BackendEnvironment:
    settings = BackendSettings(
        google_sts_url=server.token_url,
        google_iam_credentials_url=server.http_url,
        google_workload_identity_provider=provider,
    )
    return BackendEnvironment(settings=settings)


@pytest.fixture
async def keyless(kube: KubeClient, gsm_emulator: GoogleEmulator) -> AsyncIterator[Keyless]:
    async with opened(kube, environment(gsm_emulator)) as made:
        yield made


def team(cp: ControlPlane, server: GoogleEmulator, pool: Pool, *, user: str = "reader") -> Team:
    """A namespace whose ServiceAccount ``reader`` names a Google service account that the
    namespace's account ``user`` may impersonate and that reads the namespace's prefix."""
    namespace = new_namespace(cp, "gsm-keyless")
    email = server.service_account_email(f"sa-{uuid.uuid4().hex[:8]}")
    principal = server.principal(pool.name, f"system:serviceaccount:{namespace}:{user}")
    prefix = google_name(f"{namespace}/x")[:-1]  # the ids of the paths under the namespace
    server.register_service_account(email, [principal], [prefix])
    lend_account(cp, namespace, "reader", {GSA_ANNOTATION: email})
    put_value(server, f"{namespace}/db", f"value of {namespace}")
    return Team(namespace, email)


def spec(server: GoogleEmulator, pool: Pool | None, **config: Any) -> BackendSpec:
    provider = {"workloadIdentityProvider": pool.provider} if pool is not None else {}
    return keyless_spec(
        "google-secret-manager",
        {
            "project": server.project,
            "endpoint": server.endpoint,
            "serviceAccount": "reader",
            **provider,
            **config,
        },
    )


async def test_each_accounts_service_account_reads_its_prefix_with_one_exchange(
    control_plane: ControlPlane, keyless: Keyless, gsm_emulator: GoogleEmulator, pool: Pool
) -> None:
    a, b = (team(control_plane, gsm_emulator, pool) for _ in range(2))
    gsm_emulator.reset_exchanges()
    first = await keyless.connect(spec(gsm_emulator, pool), a.namespace, "one")
    second = await keyless.connect(spec(gsm_emulator, pool), a.namespace, "two")
    for backend in (first, second):
        assert (await backend.get_secret(a.secret)).value == f"value of {a.namespace}"
        with pytest.raises(AuthenticationError):
            await backend.get_secret(b.secret)
        assert [r.path for r in await backend.list_secrets(f"{a.namespace}/")] == [a.secret]
    subject = gsm_emulator.principal(pool.name, f"system:serviceaccount:{a.namespace}:reader")
    assert gsm_emulator.exchanges() == {"granted": {subject: 1, a.identity: 1}, "refused": {}}
    assert keyless.exchanges() == 1


async def test_the_provider_comes_from_the_operators_setting_when_the_config_names_none(
    control_plane: ControlPlane, kube: KubeClient, gsm_emulator: GoogleEmulator, pool: Pool
) -> None:
    a = team(control_plane, gsm_emulator, pool)
    without = Keyless(kube, environment(gsm_emulator))
    with_setting = Keyless(kube, environment(gsm_emulator, pool.provider))
    try:
        with pytest.raises(InvalidBackendConfigError, match=r"config\.workloadIdentityProvider"):
            await without.connect(spec(gsm_emulator, None), a.namespace, "b")
        backend = await with_setting.connect(spec(gsm_emulator, None), a.namespace, "b")
        assert (await backend.get_secret(a.secret)).value == f"value of {a.namespace}"
    finally:
        await without.close()
        await with_setting.close()


async def test_the_sts_refusing_the_token_names_its_code_never_the_token(
    control_plane: ControlPlane, keyless: Keyless, gsm_emulator: GoogleEmulator, pool: Pool
) -> None:
    """A provider whose allowed audiences are the apiserver's: the operator's token, bound
    to the provider's own name, is refused, as it would be the other way round."""
    a = team(control_plane, gsm_emulator, pool)
    issuer = control_plane.service_account_issuer
    strict = gsm_emulator.register_provider(pool.name, "strict", issuer, [issuer])
    gsm_emulator.reset_exchanges()
    backend = await keyless.connect(
        spec(gsm_emulator, None, workloadIdentityProvider=strict), a.namespace, "b"
    )
    for _ in range(2):  # a refusal is not kept
        with pytest.raises(TokenExchangeRefusedError) as caught:
            await backend.get_secret(a.secret)
        message = caught.value.message
        assert "invalid_grant" in message and caught.value.reason == "TokenExchangeRefused"
        assert not JWT.search(f"{message} {caught.value!r}")
    assert gsm_emulator.exchanges()["refused"] == {"invalid_grant": 2}
    assert backend.calls.snapshot() == {("read", "auth_failed"): 2}  # each failed at its token
    assert keyless.exchanges() == 0


async def test_impersonation_refused_is_the_identitys_denial(
    control_plane: ControlPlane, keyless: Keyless, gsm_emulator: GoogleEmulator, pool: Pool
) -> None:
    """The Google service account lets another account of the namespace impersonate it."""
    a = team(control_plane, gsm_emulator, pool, user="someone-else")
    backend = await keyless.connect(spec(gsm_emulator, pool), a.namespace, "b")
    with pytest.raises(AuthenticationError) as caught:
        await backend.get_secret(a.secret)
    assert not isinstance(caught.value, TokenExchangeRefusedError)
    assert "PERMISSION_DENIED" in caught.value.message and a.identity in caught.value.message
    assert caught.value.reason == "AuthenticationFailed"
