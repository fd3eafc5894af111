"""The Azure Key Vault emulator as a managed server process, for `dev` and the tests.

:mod:`~scaivault_devenv.keyvault_emulator` serves the Key Vault
secrets API and the Entra ID token endpoints on one HTTPS port of 127.0.0.1.
Its TLS certificate is signed by a CA made on first use (EC P-256, in
``tls_dir``); clients trust it through :attr:`KeyVaultServer.ca_bundle`.

A process that builds Azure backends against it (the operator in `dev` and the
end-to-end tests) needs the environment :meth:`KeyVaultServer.client_env`
returns:

- ``SCAIVAULT_AZURE_CA_BUNDLE``: a PEM CA bundle the Azure backend trusts for
  the vault and the token endpoint (development and tests only; the CR has no
  such key and production uses the system trust store);
- ``AZURE_AUTHORITY_HOST``: the Entra ID authority, here the emulator itself
  (the variable ``azure-identity`` reads; AKS workload identity sets it too).

The development credentials (:attr:`tenant_id`, :attr:`client_id`,
:attr:`client_secret`) may do everything. Keyless identities are applications
registered with :meth:`KeyVaultServer.register_application`: federated
credentials naming ServiceAccounts of a cluster whose issuer the emulator
trusts (:meth:`~scaivault_devenv.federation.FederationClient.trust_issuer`), and
the secret name prefixes their tokens may read.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

from .entra_emulator import FEDERATION_AUDIENCE, TOKEN_LIFETIME
from .federation import FederationClient, credential_json, emulator_request
from .oidc_validator import FederatedCredential
from .processes import LocalServer, ManagedProcess, free_port

DEV_TENANT_ID = "5c0f3e4a-7d2b-4f61-9a8e-1b2c3d4e5f60"
DEV_CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DEV_CLIENT_SECRET = "dev-only-azure-client-secret"
DEV_IDENTITY_HEADER = "dev-only-identity-header"
CA_BUNDLE_ENV = "SCAIVAULT_AZURE_CA_BUNDLE"
AUTHORITY_ENV = "AZURE_AUTHORITY_HOST"


def ensure_tls(tls_dir: Path) -> tuple[Path, Path, Path]:
    """``(ca.pem, server.pem, server-key.pem)`` in ``tls_dir``, made once."""
    files = (tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server-key.pem")
    if all(f.exists() for f in files):
        return files
    tls_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tls-", dir=tls_dir.parent))
    try:
        for path, data in zip(files, _make_tls(), strict=True):
            (staging / path.name).write_bytes(data)
        os.chmod(staging / "server-key.pem", 0o600)
        try:
            staging.rename(tls_dir)  # atomic: a concurrent maker wins, and that is fine
        except OSError:
            if not all(f.exists() for f in files):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _make_tls() -> tuple[bytes, bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    later = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scaivault-federation dev CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), leaf.public_bytes(pem) + ca.public_bytes(pem), key_pem


def _key_usage(*, cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def service_account_credential(issuer: str, namespace: str, name: str) -> FederatedCredential:
    """A federated identity credential for a ServiceAccount, as AKS workload identity
    writes it: its issuer, ``system:serviceaccount:<ns>:<name>``, Entra's audience."""
    subject = f"system:serviceaccount:{namespace}:{name}"
    return FederatedCredential(issuer, frozenset({FEDERATION_AUDIENCE}), subject)


class KeyVaultServer(FederationClient, LocalServer):
    """The emulator on a free loopback port; use ``with`` or start()/stop()."""

    def __init__(
        self,
        state_dir: Path,
        *,
        tls_dir: Path | None = None,
        tenant_id: str = DEV_TENANT_ID,
        client_id: str = DEV_CLIENT_ID,
        client_secret: str = DEV_CLIENT_SECRET,
        identity_header: str = DEV_IDENTITY_HEADER,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.tls_dir = (tls_dir or self.state_dir / "tls").resolve()
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity_header = identity_header
        self.port = 0
        self._proc: ManagedProcess | None = None

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority_host(self) -> str:
        """The Entra ID authority the emulator plays (token endpoint below it)."""
        return self.vault_url

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def identity_endpoint(self) -> str:
        """An App Service style managed identity endpoint (``IDENTITY_ENDPOINT``)."""
        return f"{self.vault_url}/msi/token"

    @property
    def ca_bundle(self) -> Path:
        return self.tls_dir / "ca.pem"

    def client_env(self) -> dict[str, str]:
        """Environment a process needs to use this server through the Azure backend."""
        return {CA_BUNDLE_ENV: str(self.ca_bundle), AUTHORITY_ENV: self.authority_host}

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it answers over TLS."""
        _, cert, key = ensure_tls(self.tls_dir)
        self.port = free_port()
        env = dict(os.environ)
        env["KEYVAULT_EMULATOR_CLIENT_SECRET"] = self.client_secret
        env["KEYVAULT_EMULATOR_IDENTITY_HEADER"] = self.identity_header
        module = "scaivault_devenv.keyvault_emulator"
        argv = [sys.executable, "-m", module, "--port", str(self.port)]
        argv += ["--cert", str(cert), "--key", str(key)]
        argv += ["--tenant-id", self.tenant_id, "--client-id", self.client_id]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._proc = ManagedProcess(
            "keyvault-emulator", argv, self.state_dir / "logs" / "keyvault.log", env=env
        )
        try:
            self._proc.start()
            self._proc.wait_until(
                lambda: self.admin("GET", "/healthz").get("status") == "ok", timeout, "/healthz"
            )
        except BaseException:
            self.stop()
            raise

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call to the emulator's own endpoints (``/healthz``, ``/_emulator/...``)."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        return emulator_request(self.vault_url + path, method, body, context)

    def emulator_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.admin(method, path, body)

    def register_application(
        self,
        client_id: str,
        federated: list[FederatedCredential],
        read_prefixes: list[str],
        token_seconds: int = TOKEN_LIFETIME,
    ) -> None:
        """An application whose tokens come from ``federated`` credentials' assertions,
        last ``token_seconds`` and may read the secrets under ``read_prefixes``."""
        body = {
            "federatedCredentials": [credential_json(c) for c in federated],
            "readPrefixes": read_prefixes,
            "tokenSeconds": token_seconds,
        }
        self.admin("PUT", f"/_emulator/applications/{client_id}", body)

    def secret_count(self) -> int:
        """Secrets a listing of the vault returns (disabled and expired ones included)."""
        return int(self.admin("GET", "/_emulator/stats")["secrets"])

    def inject_faults(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` vault API calls with ``status``."""
        self.admin(
            "POST",
            "/_emulator/faults",
            {"status": status, "times": times, "retry_after": retry_after},
        )

    def clear_faults(self) -> None:
        """Drop the injected answers not given yet."""
        self.admin("DELETE", "/_emulator/faults")

    def workload_identity(self, client_id: str, token_file: Path) -> Any:
        """azure-identity's ``WorkloadIdentityCredential`` for ``client_id``, its
        assertion read from ``token_file``, against this emulator."""
        from azure.identity import WorkloadIdentityCredential

        return WorkloadIdentityCredential(
            tenant_id=self.tenant_id,
            client_id=client_id,
            token_file_path=str(token_file),
            authority=self.authority_host,
            disable_instance_discovery=True,
            connection_verify=str(self.ca_bundle),
        )

    def secret_client(self, credential: Any = None) -> Any:
        """A synchronous ``azure.keyvault.secrets.SecretClient`` with ``credential``,
        by default the development client's."""
        from azure.identity import ClientSecretCredential
        from azure.keyvault.secrets import SecretClient

        credential = credential or ClientSecretCredential(
            self.tenant_id,
            self.client_id,
            self.client_secret,
            authority=self.authority_host,
            disable_instance_discovery=True,
            connection_verify=str(self.ca_bundle),
        )
        return SecretClient(
            self.vault_url,
            credential,
            verify_challenge_resource=False,
            connection_verify=str(self.ca_bundle),
        )
