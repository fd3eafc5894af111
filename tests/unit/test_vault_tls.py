"""TLS contexts of Vault clients: backends that trust the system's store (or verify
nothing) share one context instead of each loading the CA store (most of a MiB)."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from scaivault_federation.backends.base import Credentials
from scaivault_federation.backends.vault.client import _tls_context
from scaivault_federation.backends.vault.config import VaultConfig

HTTPS = "https://vault.internal:8200"
TOKEN = Credentials({"token": b"t"})


def config(**extra: object) -> VaultConfig:
    return VaultConfig.model_validate({"endpoint": HTTPS, "authConfigPath": "infra/vault", **extra})


def first_pem() -> bytes:
    text = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    start = text.index("-----BEGIN CERTIFICATE-----")
    return text[start : text.index(end, start) + len(end)].encode() + b"\n"


def test_backends_trusting_the_system_share_one_context() -> None:
    a = _tls_context(config(), TOKEN, None)
    b = _tls_context(config(), Credentials({"token": b"other"}), None)
    assert a is b
    assert a.verify_mode == ssl.CERT_REQUIRED and a.check_hostname


def test_backends_verifying_nothing_share_another() -> None:
    a = _tls_context(config(tlsVerify=False), TOKEN, None)
    b = _tls_context(config(tlsVerify=False), TOKEN, None)
    assert a is b
    assert a.verify_mode == ssl.CERT_NONE and not a.check_hostname
    assert a is not _tls_context(config(), TOKEN, None)


def test_a_ca_bundle_gets_a_context_of_its_own() -> None:
    creds = Credentials({"token": b"t", "ca.crt": first_pem()})
    a = _tls_context(config(), creds, None)
    assert a is not _tls_context(config(), TOKEN, None)
    assert a is not _tls_context(config(), creds, None)
    assert len(a.get_ca_certs()) == 1
