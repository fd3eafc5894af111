"""A local Google Secret Manager for `dev` and the tests.

Runs :mod:`scaivault_devenv.gsm_emulator` (a protocol emulator of
the Secret Manager v1 gRPC API, not Google's server) as a child process on a
free loopback port. The emulator requires authentication: at start this
module makes three service accounts with fresh RSA keys, writes their key
JSON files under ``state_dir/keys/`` and trusts them in the emulator:

- ``admin``: every permission (used by the helpers here to write data);
- ``reader``: ``secretmanager.secrets.list`` and ``secretmanager.versions.access``
  (what the operator needs: the viewer and secret accessor roles);
- ``viewer``: lists and metadata only, so reading a value is PERMISSION_DENIED.

Clients reach it with ``endpoint`` (``127.0.0.1:PORT``, plaintext: see
:mod:`scaivault_federation.backends.google.auth`) and one of these keys as
``credentials.json``. Synchronous helpers write example data through the real
client library with the admin key.

Keyless identities go through workload identity federation
(:mod:`~scaivault_devenv.gsm_federation`, on :attr:`GoogleEmulator.http_url`):
:meth:`GoogleEmulator.register_provider` adds a pool provider trusting an
issuer, :meth:`GoogleEmulator.register_service_account` a service account
that principals may impersonate and the secret prefixes it may read, and
:meth:`GoogleEmulator.external_account_info` writes the ``external_account``
credential configuration google-auth reads for them.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core.exceptions import NotFound
from google.auth.transport import grpc as auth_grpc
from google.auth.transport import requests as auth_requests
from google.cloud.secretmanager_v1 import SecretManagerServiceClient, types
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)
from google.oauth2 import service_account

from .federation import FederationClient, emulator_request
from .gsm_emulator import ALL_PERMISSIONS
from .gsm_federation import TOKEN_LIFETIME, principal
from .processes import LocalServer, ManagedProcess, free_port

ACCOUNTS: dict[str, frozenset[str]] = {
    "admin": ALL_PERMISSIONS,
    "reader": frozenset({"secretmanager.secrets.list", "secretmanager.versions.access"}),
    "viewer": frozenset(
        {
            "secretmanager.secrets.list",
            "secretmanager.secrets.get",
            "secretmanager.versions.list",
            "secretmanager.versions.get",
        }
    ),
}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
#: what a service account needs to sync secrets: the viewer and secret accessor roles
READER_PERMISSIONS = ACCOUNTS["reader"]
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def make_service_account_key(project: str, account: str) -> tuple[dict[str, str], str]:
    """A new service-account key JSON document and its public key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    email = f"{account}@{project}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return info, public_pem


class GoogleEmulator(FederationClient, LocalServer):
    """The Secret Manager emulator on a free loopback port; use ``with`` or start()/stop()."""

    def __init__(
        self,
        state_dir: Path,
        project: str = "scaivault-dev",
        *,
        allow_anonymous: bool = False,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.project = project
        self.project_number = "123456789012"
        self.allow_anonymous = allow_anonymous
        self.endpoint = ""
        #: the workload identity federation endpoints (STS, IAM credentials), over HTTP
        self.http_url = ""
        self._proc: ManagedProcess | None = None
        self._admin: SecretManagerServiceClient | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        """Start the emulator and wait until an authenticated call succeeds."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        trust = self._write_keys()
        port, http_port = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        argv = [
            sys.executable,
            "-m",
            "scaivault_devenv.gsm_emulator",
            "--port",
            str(port),
            "--project",
            self.project,
            "--project-number",
            self.project_number,
            "--trust",
            str(trust),
            "--http-port",
            str(http_port),
        ]
        if self.allow_anonymous:
            argv.append("--allow-anonymous")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOOGLE_")}
        self._proc = ManagedProcess(
            "gsm-emulator", argv, self.state_dir / "logs" / "gsm-emulator.log", env=env
        )
        try:
            self._proc.start()
            self._proc.wait_until(self._ready, timeout, "an authenticated ListSecrets")
            self._proc.wait_until(
                lambda: self.emulator_call("GET", "/healthz").get("status") == "ok",
                timeout,
                f"{self.http_url}/healthz",
            )
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        request = types.ListSecretsRequest(parent=self.parent, page_size=1)
        self.admin().list_secrets(request=request, timeout=2, retry=None)
        return True

    def stop(self) -> None:
        """Stop the emulator; safe to call at any time, repeatedly."""
        if self._admin is not None:
            self._admin.transport.close()  # type: ignore[no-untyped-call]
            self._admin = None
        super().stop()

    # -- service accounts -------------------------------------------------------------

    def _write_keys(self) -> Path:
        keys = self.state_dir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        trusted = []
        for account, permissions in ACCOUNTS.items():
            info, public_pem = make_service_account_key(self.project, account)
            path = keys / f"{account}.json"
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(json.dumps(info, indent=2))
            trusted.append(
                {
                    "client_email": info["client_email"],
                    "private_key_id": info["private_key_id"],
                    "public_key": public_pem,
                    "permissions": sorted(permissions),
                }
            )
        trust = self.state_dir / "trust.json"
        trust.write_text(json.dumps(trusted, indent=2))
        return trust

    def key_path(self, account: str = "reader") -> Path:
        """The key JSON file of ``account`` (admin, reader or viewer)."""
        if account not in ACCOUNTS:
            raise KeyError(account)
        return self.state_dir / "keys" / f"{account}.json"

    def key_json(self, account: str = "reader") -> str:
        """The service-account key JSON text of ``account``."""
        return self.key_path(account).read_text()

    # -- workload identity federation -------------------------------------------------

    def emulator_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One call to the emulator's HTTP endpoints (``/_emulator/...``)."""
        if not self.http_url:
            raise RuntimeError("the Secret Manager emulator is not started")
        return emulator_request(self.http_url + path, method, body)

    @property
    def token_url(self) -> str:
        """The token exchange (sts.googleapis.com's ``/v1/token``)."""
        return f"{self.http_url}/v1/token"

    def impersonation_url(self, email: str) -> str:
        """iamcredentials' ``generateAccessToken`` for the service account ``email``."""
        return f"{self.http_url}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"

    def service_account_email(self, account: str) -> str:
        return f"{account}@{self.project}.iam.gserviceaccount.com"

    def principal(self, pool: str, subject: str) -> str:
        """The federated principal of ``subject`` (a ServiceAccount token's ``sub``)."""
        return principal(self.project_number, pool, subject)

    def register_provider(
        self,
        pool: str,
        provider: str,
        issuer: str,
        allowed_audiences: list[str] | None = None,
        token_seconds: int = TOKEN_LIFETIME,
    ) -> str:
        """An OIDC provider of ``pool`` trusting ``issuer``; returns its audience (the
        provider's full name, also what it allows unless ``allowed_audiences``)."""
        body: dict[str, Any] = {"issuerUri": issuer, "tokenSeconds": token_seconds}
        if allowed_audiences is not None:
            body["allowedAudiences"] = allowed_audiences
        path = f"/_emulator/workload-identity-pools/{pool}/providers/{provider}"
        return str(self.emulator_call("PUT", path, body)["audience"])

    def register_service_account(
        self,
        email: str,
        workload_identity_users: list[str],
        secret_prefixes: list[str],
        permissions: frozenset[str] = READER_PERMISSIONS,
        token_seconds: int = TOKEN_LIFETIME,
    ) -> None:
        """A service account the ``workload_identity_users`` (principals) may
        impersonate, whose tokens hold ``permissions`` on the secrets under
        ``secret_prefixes`` and last ``token_seconds``."""
        body = {
            "workloadIdentityUsers": workload_identity_users,
            "permissions": sorted(permissions),
            "secretPrefixes": secret_prefixes,
            "tokenSeconds": token_seconds,
        }
        self.emulator_call("PUT", f"/_emulator/service-accounts/{email}", body)

    def external_account_info(
        self, audience: str, token_file: Path, email: str | None
    ) -> dict[str, Any]:
        """google-auth's ``external_account`` configuration (what ``gcloud iam
        workload-identity-pools create-cred-config`` writes) for a ServiceAccount
        token in ``token_file``, impersonating ``email`` (or not, when ``None``)."""
        info: dict[str, Any] = {
            "type": "external_account",
            "audience": audience,
            "subject_token_type": JWT_TOKEN_TYPE,
            "token_url": self.token_url,
            "credential_source": {"file": str(token_file)},
        }
        if email is not None:
            info["service_account_impersonation_url"] = self.impersonation_url(email)
        return info

    def client(self, credentials: Any) -> SecretManagerServiceClient:
        """A synchronous client on a new channel, with google-auth ``credentials``."""
        if not self.endpoint:
            raise RuntimeError("the Secret Manager emulator is not started")
        make_plugin = auth_grpc.AuthMetadataPlugin
        plugin = make_plugin(credentials, auth_requests.Request())  # type: ignore[no-untyped-call]
        channel_creds = grpc.composite_channel_credentials(
            grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
            grpc.metadata_call_credentials(plugin),
        )
        channel = grpc.secure_channel(self.endpoint, channel_creds)
        return SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    # -- admin helpers (synchronous, through the client library) ----------------------

    @property
    def parent(self) -> str:
        return f"projects/{self.project}"

    def admin(self) -> SecretManagerServiceClient:
        """A synchronous client authenticated as the admin account."""
        if self._admin is None:
            info = json.loads(self.key_json("admin"))
            from_info = service_account.Credentials.from_service_account_info
            key = from_info(info, scopes=[CLOUD_PLATFORM])  # type: ignore[no-untyped-call]
            self._admin = self.client(key.with_always_use_jwt_access(True))
        return self._admin

    def create_secret(self, secret_id: str, labels: dict[str, str] | None = None) -> None:
        secret = types.Secret(
            replication=types.Replication(automatic=types.Replication.Automatic()),
            labels=labels or {},
        )
        self.admin().create_secret(
            request=types.CreateSecretRequest(
                parent=self.parent, secret_id=secret_id, secret=secret
            ),
            timeout=10,
        )

    def add_version(self, secret_id: str, data: str | bytes) -> int:
        """Add a version holding ``data``; returns its number."""
        payload = types.SecretPayload(data=data.encode() if isinstance(data, str) else data)
        version = self.admin().add_secret_version(
            request=types.AddSecretVersionRequest(
                parent=f"{self.parent}/secrets/{secret_id}", payload=payload
            ),
            timeout=10,
        )
        return int(str(version.name).rsplit("/", 1)[-1])

    def has_secret(self, secret_id: str) -> bool:
        try:
            self.admin().get_secret(name=f"{self.parent}/secrets/{secret_id}", timeout=10)
        except NotFound:
            return False
        return True

    def put(self, secret_id: str, data: str | bytes) -> int:
        """Create the secret if needed and add a version; returns the version number."""
        if not self.has_secret(secret_id):
            self.create_secret(secret_id)
        return self.add_version(secret_id, data)

    def _version_name(self, secret_id: str, version: int | str) -> str:
        return f"{self.parent}/secrets/{secret_id}/versions/{version}"

    def disable_version(self, secret_id: str, version: int | str) -> None:
        self.admin().disable_secret_version(name=self._version_name(secret_id, version), timeout=10)

    def enable_version(self, secret_id: str, version: int | str) -> None:
        self.admin().enable_secret_version(name=self._version_name(secret_id, version), timeout=10)

    def destroy_version(self, secret_id: str, version: int | str) -> None:
        self.admin().destroy_secret_version(name=self._version_name(secret_id, version), timeout=10)

    def expire(self, secret_id: str, when: datetime | None) -> datetime | None:
        """Set (or, with None, clear) the secret's ``expire_time``; answers it as the
        emulator now holds it."""
        secret = types.Secret(name=f"{self.parent}/secrets/{secret_id}")
        if when is not None:
            secret.expire_time = when
        answer = self.admin().update_secret(
            request=types.UpdateSecretRequest(
                secret=secret, update_mask={"paths": ["expire_time"]}
            ),
            timeout=10,
        )
        if "expire_time" not in answer:
            return None
        held: datetime = answer.expire_time
        return held

    def delete_secret(self, secret_id: str) -> None:
        self.admin().delete_secret(name=f"{self.parent}/secrets/{secret_id}", timeout=10)
