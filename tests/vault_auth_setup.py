"""Set up OpenBao's userpass, jwt and cert auth methods for tests (backend and e2e).

Each helper mounts a fresh auth method whose role may read and list
``secret/<prefix>/`` (including OpenBao's ``detailed-metadata``), and returns
what a backend needs to log in. Certificates come from throwaway CAs made with
``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer

ROLE = "sync"


def _mount(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def reader_policy(bao: OpenBaoServer, name: str, prefix: str) -> str:
    """A policy reading and listing ``secret/<prefix>/``; returns its name."""
    policy = "\n".join(
        [
            f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}',
            f'path "secret/metadata/{prefix}/*" {{ capabilities = ["list", "read"] }}',
            f'path "secret/metadata/{prefix}/" {{ capabilities = ["list"] }}',
            f'path "secret/detailed-metadata/{prefix}/*" {{ capabilities = ["list"] }}',
            f'path "secret/detailed-metadata/{prefix}/" {{ capabilities = ["list"] }}',
        ]
    )
    bao.request("PUT", f"/v1/sys/policies/acl/{name}", {"policy": policy})
    return name


@dataclass(frozen=True)
class Userpass:
    mount: str
    username: str
    password: str = field(repr=False)


def configure_userpass(bao: OpenBaoServer, prefix: str, *, stem: str = "userpass") -> Userpass:
    mount = _mount(stem)
    bao.request("POST", f"/v1/sys/auth/{mount}", {"type": "userpass"})
    policy = reader_policy(bao, mount, prefix)
    username, password = "federation", "pw-" + secrets.token_hex(12)
    bao.request(
        "POST",
        f"/v1/auth/{mount}/users/{username}",
        {"password": password, "token_policies": [policy], "token_ttl": "10m"},
    )
    return Userpass(mount, username, password)


def configure_jwt_auth(
    bao: OpenBaoServer,
    cp: ControlPlane,
    namespace: str,
    account: str,
    audience: str,
    prefix: str,
) -> str:
    """A jwt mount trusting the test apiserver's ServiceAccount signing key; its role
    :data:`ROLE` binds ``system:serviceaccount:<namespace>:<account>`` and ``audience``.
    Returns the mount."""
    mount = _mount("jwt")
    bao.request("POST", f"/v1/sys/auth/{mount}", {"type": "jwt"})
    public_key = (cp.ca_file.parent / "sa.pub").read_text()
    bao.request(
        "POST",
        f"/v1/auth/{mount}/config",
        {"jwt_validation_pubkeys": [public_key], "bound_issuer": cp.service_account_issuer},
    )
    policy = reader_policy(bao, mount, prefix)
    bao.request(
        "POST",
        f"/v1/auth/{mount}/role/{ROLE}",
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "bound_subject": f"system:serviceaccount:{namespace}:{account}",
            "token_policies": [policy],
            "token_ttl": "10m",
        },
    )
    return mount


def request_token(cp: ControlPlane, namespace: str, account: str, audience: str) -> str:
    """A ServiceAccount token for ``audience`` straight from TokenRequest."""
    status, issued = cp.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": 600},
        },
    )
    assert status == 201, (status, issued)
    token = issued["status"]["token"]
    assert isinstance(token, str)
    return token


# -- certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A throwaway CA: its certificate (PEM) and key."""

    cert_pem: bytes
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    def issue_client(self, common_name: str) -> tuple[bytes, bytes]:
        """A client certificate and its unencrypted key, both PEM."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def issue_server(self, address: str) -> tuple[bytes, bytes]:
        """A server certificate for the IP ``address`` and its unencrypted key, both PEM."""
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(address))]
        return self._issue(address, ExtendedKeyUsageOID.SERVER_AUTH, names)

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def make_ca(name: str) -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Pki(cert.public_bytes(serialization.Encoding.PEM), cert, key)


def configure_cert_auth(bao: OpenBaoServer, client_ca: Pki, prefix: str) -> str:
    """A cert mount whose role :data:`ROLE` trusts client certificates of ``client_ca``.
    Returns the mount."""
    mount = _mount("cert")
    bao.request("POST", f"/v1/sys/auth/{mount}", {"type": "cert"})
    policy = reader_policy(bao, mount, prefix)
    bao.request(
        "POST",
        f"/v1/auth/{mount}/certs/{ROLE}",
        {
            "certificate": client_ca.cert_pem.decode(),
            "token_policies": [policy],
            "token_ttl": "10m",
        },
    )
    return mount
