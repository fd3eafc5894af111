"""The contract's cases with keyless identities: each cloud's harness again, its backends
logging in as a ServiceAccount of the test apiserver (a real TokenRequest, exchanged at
the cloud's emulated token endpoint) instead of with static keys. The good identity
reads the contract's paths; the wrong one is an opted-in account the cloud's identity does not
trust. Exchanges are kept per harness, so a backend of a cold harness exchanges on its
first call, which counts as that call's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.gsm import GoogleEmulator
from scaivault_devenv.keyvault import KeyVaultServer, service_account_credential
from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.aws.backend import AwsSecretsManagerBackend
from scaivault_federation.backends.azure.auth import AUTHORITY_ENV
from scaivault_federation.backends.azure.backend import AzureKeyVaultBackend
from scaivault_federation.backends.azure.config import AzureConfig
from scaivault_federation.backends.bound_tokens import BoundTokens
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.backends.google.backend import GoogleSecretManagerBackend
from scaivault_federation.backends.google.config import GoogleConfig
from scaivault_federation.backends.google.settings import GoogleSettings
from scaivault_federation.backends.registry import parse_config
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.k8s.tokens import ServiceAccountStore
from tests.keyless import lend_account, new_namespace
from tests.keyless_clouds import AwsCloud, AzureCloud, GoogleCloud, KeylessCloud, subject

from .harness import registered
from .harness_aws import PAGE_SIZE as AWS_PAGE_SIZE
from .harness_aws import AwsHarness, aws_config
from .harness_azure import PAGE_SIZE as AZURE_PAGE_SIZE
from .harness_azure import AzureHarness
from .harness_google import PAGE_SIZE as GOOGLE_PAGE_SIZE
from .harness_google import GoogleHarness

#: the owner key of the harness's backends, which the accounts opt in for
BACKEND = "contract"
#: what every path the contract reads begins with (:meth:`Harness.new_prefix`)
READ_PREFIX = "t-"


@dataclass
class Tenant:
    """A cloud's server and a namespace of the test apiserver whose account ``reader``
    may become an identity reading the contract's paths, and ``stranger`` one that does
    not trust it."""

    cloud: KeylessCloud
    namespace: str
    identity: str
    good: dict[str, str]
    bad: dict[str, str]


def tenant(cloud: KeylessCloud) -> Tenant:
    namespace = new_namespace(cloud.cp, f"contract-{cloud.short}")
    identity, good = cloud.grant(namespace, "reader", READ_PREFIX)
    _, bad = cloud.grant(namespace, "someone-else", READ_PREFIX)  # trusts another account
    lend_account(cloud.cp, namespace, "reader", good, token_for=BACKEND)
    lend_account(cloud.cp, namespace, "stranger", bad, token_for=BACKEND)
    return Tenant(cloud, namespace, identity, good, bad)


class Keyless:
    """What a keyless variant adds to its type's harness."""

    variant: ClassVar[str] = "keyless"
    #: what no error may carry: a part of a JSON Web Token
    bad_credential = "eyJ"
    tenant: Tenant

    def keyless_setup(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.kube = KubeClient(load_connection(tenant.cloud.cp.kubeconfig))
        self.tokens = BoundTokens(ServiceAccountStore(self.kube))

    async def close(self) -> None:
        await super().close()  # type: ignore[misc]
        await self.kube.close()

    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        return {}  # no credentials Secret

    async def loaded_credentials(self, *, bad: bool = False) -> Credentials:
        account = "stranger" if bad else "reader"
        kind: str = self.backend_type  # type: ignore[attr-defined]
        login = parse_config(kind, self.tenant.cloud.config(account)).workload_identity()
        assert login is not None
        identity = await self.tokens.workload_identity(self.tenant.namespace, login, BACKEND)
        return Credentials(workload_identity=identity)

    def spare_credentials(self, spare: Any) -> Credentials:
        raise AssertionError("a keyless harness loads its credentials")

    async def stopped_backend(self) -> SecretBackend:
        spare: Any = self.spare_server()  # type: ignore[attr-defined]
        try:
            credentials = await self.loaded_credentials()
            backend: SecretBackend = await self.make(spare, credentials)  # type: ignore[attr-defined]
            self.opened.append(backend)  # type: ignore[attr-defined]
            await backend.probe()
        finally:
            spare.stop()
        return backend

    def client_environment(self) -> BackendEnvironment:
        return self.tenant.cloud.environment()

    def keyless_config(self) -> dict[str, Any]:
        return self.tenant.cloud.config("reader")


@registered
class AwsKeylessHarness(Keyless, AwsHarness):
    server_fixture = "keyless_aws"

    def __init__(self, tenant: Tenant, tmp: Path) -> None:
        super().__init__(tenant.cloud.server, tmp)
        self.keyless_setup(tenant)

    async def make(self, server: MotoServer, credentials: Credentials) -> SecretBackend:
        # the main server's STS, whatever server holds the secrets
        sts = self.tenant.cloud.server.endpoint
        config = aws_config(server)
        return AwsSecretsManagerBackend(
            config, credentials, page_size=AWS_PAGE_SIZE, sts_endpoint=sts
        )

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return self.keyless_config()


@registered
class AzureKeylessHarness(Keyless, AzureHarness):
    server_fixture = "keyless_azure"

    def __init__(self, tenant: Tenant, tmp: Path) -> None:
        super().__init__(tenant.cloud.server, tmp)
        self.keyless_setup(tenant)

    async def make(self, server: KeyVaultServer, credentials: Credentials) -> SecretBackend:
        config = AzureConfig(vault_url=server.vault_url)
        return AzureKeyVaultBackend(
            config,
            credentials,
            connection_verify=str(server.ca_bundle),
            env={AUTHORITY_ENV: server.authority_host},
            page_size=AZURE_PAGE_SIZE,
        )

    def spare_server(self) -> KeyVaultServer:
        """A vault of its own whose Entra ID knows the account's application too."""
        spare = super().spare_server()
        cp = self.tenant.cloud.cp
        spare.trust_issuer(cp.service_account_issuer, cp.ca_file.read_text())
        federated = service_account_credential(
            cp.service_account_issuer, self.tenant.namespace, "reader"
        )
        spare.register_application(self.tenant.identity, [federated], [READ_PREFIX])
        return spare

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return self.keyless_config()


@registered
class GoogleKeylessHarness(Keyless, GoogleHarness):
    server_fixture = "keyless_google"

    def __init__(self, tenant: Tenant, tmp: Path) -> None:
        super().__init__(tenant.cloud.server, tmp)
        self.keyless_setup(tenant)

    async def make(self, emulator: GoogleEmulator, credentials: Credentials) -> SecretBackend:
        cloud = self.tenant.cloud
        assert isinstance(cloud, GoogleCloud)
        config = GoogleConfig(project=emulator.project, endpoint=emulator.endpoint)
        settings = GoogleSettings(
            google_workload_identity_provider=cloud.provider,
            google_sts_url=emulator.token_url,
            google_iam_credentials_url=emulator.http_url,
        )
        return GoogleSecretManagerBackend(
            config, credentials, page_size=GOOGLE_PAGE_SIZE, settings=settings
        )

    def spare_server(self) -> GoogleEmulator:
        """An emulator of its own with the same pool, provider and service account."""
        spare = super().spare_server()
        cloud = self.tenant.cloud
        assert isinstance(cloud, GoogleCloud)
        cp = cloud.cp
        spare.trust_issuer(cp.service_account_issuer, cp.ca_file.read_text())
        spare.register_provider(cloud.pool, "kubernetes", cp.service_account_issuer)
        principal = spare.principal(cloud.pool, subject(self.tenant.namespace, "reader"))
        spare.register_service_account(self.tenant.identity, [principal], [READ_PREFIX])
        return spare

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return self.keyless_config()


def _tenant(request: pytest.FixtureRequest, cloud: type[KeylessCloud]) -> Tenant:
    control_plane: ControlPlane = request.getfixturevalue("control_plane")
    return tenant(cloud(request.getfixturevalue(cloud.server_fixture), control_plane))


@pytest.fixture(scope="session")
def keyless_aws(request: pytest.FixtureRequest) -> Tenant:
    return _tenant(request, AwsCloud)


@pytest.fixture(scope="session")
def keyless_azure(request: pytest.FixtureRequest) -> Tenant:
    return _tenant(request, AzureCloud)


@pytest.fixture(scope="session")
def keyless_google(request: pytest.FixtureRequest) -> Tenant:
    return _tenant(request, GoogleCloud)
