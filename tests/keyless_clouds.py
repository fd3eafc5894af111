"""Each cloud's keyless identities on its local server, as a platform team sets them up:
an identity (an IAM role, an Entra ID application, a Google service account) that one
ServiceAccount of one namespace may become and that reads the secrets under one
prefix; the annotations that ServiceAccount names it with; and the operator settings
that point the token exchange at the local server."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.gsm import GoogleEmulator
from scaivault_devenv.keyvault import service_account_credential
from scaivault_devenv.moto import MotoServer, read_policy
from scaivault_federation.backends.aws.config import ROLE_ANNOTATION
from scaivault_federation.backends.azure.config import CLIENT_ANNOTATION, TENANT_ANNOTATION
from scaivault_federation.backends.azure.names import azure_name
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.backends.google.config import GSA_ANNOTATION
from scaivault_federation.backends.google.names import google_name
from scaivault_federation.settings import BackendSettings
from tests.backends.harness_aws import put_secret
from tests.backends.harness_azure import put_value as put_azure
from tests.backends.harness_google import put_value as put_google


def subject(namespace: str, account: str) -> str:
    return f"system:serviceaccount:{namespace}:{account}"


class KeylessCloud(ABC):
    """One cloud's server, trusting the test apiserver's ServiceAccount issuer."""

    backend_type: ClassVar[str]
    short: ClassVar[str]
    server_fixture: ClassVar[str]

    def __init__(self, server: Any, cp: ControlPlane) -> None:
        self.server = server
        self.cp = cp
        server.trust_issuer(cp.service_account_issuer, cp.ca_file.read_text())

    @abstractmethod
    def grant(
        self, namespace: str, account: str, prefix: str, seconds: int = 3600
    ) -> tuple[str, dict[str, str]]:
        """An identity the account may become, reading the paths under ``prefix``, whose
        credentials last ``seconds`` (where the cloud sets that per identity); returns
        its name (as the server counts its exchanges) and the account's annotations."""

    @abstractmethod
    def put(self, path: str, value: str) -> None:
        """Write ``value`` at backend path ``path``."""

    @abstractmethod
    def config(self, account: str) -> dict[str, Any]:
        """The ``spec.config`` of a backend logging in as ``account``."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The operator settings (by name) that point the exchange at this server."""

    def short_lived(self, seconds: int | None) -> None:
        """Make every credential of the server last ``seconds`` (``None``: as asked),
        where the cloud sets that server-wide rather than per identity."""
        return None  # the others set it per identity, in :meth:`grant`

    def environment(self) -> BackendEnvironment:
        return BackendEnvironment(settings=BackendSettings(**self.settings()))

    def exchanges(self) -> dict[str, Any]:
        found: dict[str, Any] = self.server.exchanges()
        return found


class AwsCloud(KeylessCloud):
    backend_type = "aws-secrets-manager"
    short = "aws"
    server_fixture = "moto_server"

    def __init__(self, server: MotoServer, cp: ControlPlane) -> None:
        super().__init__(server, cp)
        issuer, ca_pem = cp.service_account_issuer, cp.ca_file.read_text()
        self.provider = server.add_oidc_provider(issuer, ca_pem)

    def grant(
        self, namespace: str, account: str, prefix: str, seconds: int = 3600
    ) -> tuple[str, dict[str, str]]:
        policy = read_policy([self.server.secret_arn_prefix(prefix)])
        name = f"{namespace}-{account}"[:48] + f"-{uuid.uuid4().hex[:6]}"
        arn = self.server.add_web_identity_role(
            name, self.provider, subject(namespace, account), policy
        )
        return arn, {ROLE_ANNOTATION: arn}

    def put(self, path: str, value: str) -> None:
        put_secret(self.server.client("secretsmanager"), path, value)

    def config(self, account: str) -> dict[str, Any]:
        return {
            "region": self.server.region,
            "endpoint": self.server.endpoint,
            "serviceAccount": account,
        }

    def settings(self) -> dict[str, Any]:
        return {"aws_endpoint_url_sts": self.server.endpoint}

    def short_lived(self, seconds: int | None) -> None:
        self.server.cap_sessions(seconds)


class AzureCloud(KeylessCloud):
    backend_type = "azure-key-vault"
    short = "azure"
    server_fixture = "keyvault_server"

    def grant(
        self, namespace: str, account: str, prefix: str, seconds: int = 3600
    ) -> tuple[str, dict[str, str]]:
        client_id = str(uuid.uuid4())
        issuer = self.cp.service_account_issuer
        credential = service_account_credential(issuer, namespace, account)
        names = azure_name(f"{prefix}x")[:-1]  # the names of the paths under the prefix
        self.server.register_application(client_id, [credential], [names], seconds)
        return client_id, {CLIENT_ANNOTATION: client_id, TENANT_ANNOTATION: self.server.tenant_id}

    def put(self, path: str, value: str) -> None:
        put_azure(self.server, path, value)

    def config(self, account: str) -> dict[str, Any]:
        return {"vaultUrl": self.server.vault_url, "serviceAccount": account}

    def settings(self) -> dict[str, Any]:
        return {
            "azure_ca_bundle": self.server.ca_bundle,
            "azure_authority_host": self.server.authority_host,
        }


class GoogleCloud(KeylessCloud):
    backend_type = "google-secret-manager"
    short = "google"
    server_fixture = "gsm_emulator"

    def __init__(self, server: GoogleEmulator, cp: ControlPlane) -> None:
        super().__init__(server, cp)
        self.pool = f"pool-{uuid.uuid4().hex[:8]}"
        self.provider = server.register_provider(self.pool, "kubernetes", cp.service_account_issuer)

    def grant(
        self, namespace: str, account: str, prefix: str, seconds: int = 3600
    ) -> tuple[str, dict[str, str]]:
        email = self.server.service_account_email(f"sa-{uuid.uuid4().hex[:8]}")
        principal = self.server.principal(self.pool, subject(namespace, account))
        ids = google_name(f"{prefix}x")[:-1]  # the ids of the paths under the prefix
        self.server.register_service_account(email, [principal], [ids], token_seconds=seconds)
        return email, {GSA_ANNOTATION: email}

    def put(self, path: str, value: str) -> None:
        put_google(self.server, path, value)

    def config(self, account: str) -> dict[str, Any]:
        return {
            "project": self.server.project,
            "endpoint": self.server.endpoint,
            "serviceAccount": account,
            "workloadIdentityProvider": self.provider,
        }

    def settings(self) -> dict[str, Any]:
        return {
            "google_sts_url": self.server.token_url,
            "google_iam_credentials_url": self.server.http_url,
        }


CLOUDS: dict[str, type[KeylessCloud]] = {c.short: c for c in (AwsCloud, AzureCloud, GoogleCloud)}
