"""The Vault backend's lease issuer against a real OpenBao whose database engine
mints PostgreSQL roles on a real PostgreSQL, and whose PKI engine issues
certificates: the credentials log in, renewals extend and are capped by the
role's maximum TTL, revocation drops the role, certificates verify against the
engine's CA, every call is counted, no password or key ever shows, and a client
that issued leases leaves its token (and so the leases) alive when it closes."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from scaivault_federation.backends import Credentials
from scaivault_federation.backends.errors import BackendError, InvalidBackendConfigError
from scaivault_federation.backends.leases import (
    CertificateRequest,
    LeaseIssuer,
    LeaseNotFoundError,
    LeasesUnsupportedError,
    RenewalRefusedError,
    lease_issuer,
)
from scaivault_federation.backends.vault.backend import VaultBackend
from scaivault_federation.backends.vault.config import VaultAuthMethod, VaultConfig

from .harness_leases import LeaseServers


def _backend(servers: LeaseServers, token: str | None = None) -> VaultBackend:
    config = VaultConfig(endpoint=servers.bao.address, auth_config_path="unused/path")
    return VaultBackend(config, Credentials({"token": (token or servers.engines.token).encode()}))


def _approle_backend(servers: LeaseServers) -> VaultBackend:
    engines = servers.engines
    config = VaultConfig(
        endpoint=servers.bao.address,
        auth_method=VaultAuthMethod.APPROLE,
        auth_mount=engines.approle_mount,
        auth_config_path="unused/path",
    )
    credentials = {"role_id": engines.role_id.encode(), "secret_id": engines.secret_id.encode()}
    return VaultBackend(config, Credentials(credentials))


@pytest.fixture
async def backend(lease_engines: LeaseServers) -> AsyncIterator[VaultBackend]:
    made = _backend(lease_engines)
    try:
        yield made
    finally:
        await made.close()


def _leases(backend: VaultBackend) -> LeaseIssuer:
    return lease_issuer(backend)


async def test_issued_credentials_log_in_and_revoking_drops_the_role(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    role = lease_engines.database_role(60, 120)
    path = lease_engines.engines.creds_path(role.name)
    leases = _leases(backend)
    before = datetime.now(UTC)
    lease = await leases.issue(path, {})
    assert lease.lease_id.startswith(f"{path}/")
    assert 55 <= lease.duration <= 60
    assert lease.renewable
    user, password = lease.data["username"], lease.data["password"]
    assert user in lease_engines.dynamic_roles()
    assert lease_engines.postgres.can_log_in(user, password)
    # the token was made for 24 h: the lease cannot outlive it
    assert lease.parent_expires_at is not None
    assert timedelta(hours=23) < lease.parent_expires_at - before <= timedelta(hours=24)
    state = await leases.lookup_lease(lease.lease_id)
    assert state.renewable
    assert timedelta(seconds=50) < state.expires_at - before <= timedelta(seconds=61)

    await leases.revoke(lease.lease_id)
    assert user not in lease_engines.dynamic_roles()
    assert not lease_engines.postgres.can_log_in(user, password)
    with pytest.raises(LeaseNotFoundError, match="lease"):
        await leases.lookup_lease(lease.lease_id)
    with pytest.raises(LeaseNotFoundError):
        await leases.renew(lease.lease_id)
    await leases.revoke(lease.lease_id)  # gone already: not an error


async def test_renewal_extends_the_lease_and_the_login(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    role = lease_engines.database_role(5, 600)
    leases = _leases(backend)
    lease = await leases.issue(lease_engines.engines.creds_path(role.name), {})
    first = await leases.lookup_lease(lease.lease_id)
    renewed = await leases.renew(lease.lease_id, 120)
    assert 115 <= renewed.duration <= 120 and renewed.renewable
    later = await leases.lookup_lease(lease.lease_id)
    assert later.expires_at - first.expires_at > timedelta(seconds=100)
    await asyncio.sleep(6)  # past the first TTL: the login still works
    assert lease_engines.postgres.can_log_in(lease.data["username"], lease.data["password"])
    default = await leases.renew(lease.lease_id)  # no increment: the role's default TTL
    assert 1 <= default.duration <= 5
    await leases.revoke(lease.lease_id)


async def test_the_maximum_ttl_shrinks_renewals_until_the_lease_is_gone(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    role = lease_engines.database_role(2, 5)
    leases = _leases(backend)
    lease = await leases.issue(lease_engines.engines.creds_path(role.name), {})
    granted = await leases.renew(lease.lease_id, 30)
    assert 1 <= granted.duration <= 5  # capped: Vault grants what the max TTL leaves
    await asyncio.sleep(1.5)
    shorter = await leases.renew(lease.lease_id, 30)
    assert shorter.duration < granted.duration
    await asyncio.sleep(shorter.duration + 1)
    with pytest.raises(LeaseNotFoundError, match=lease.lease_id):
        await leases.renew(lease.lease_id, 30)
    with pytest.raises(LeaseNotFoundError):
        await leases.lookup_lease(lease.lease_id)


async def test_a_lease_that_is_not_renewable_is_refused(lease_engines: LeaseServers) -> None:
    """A PKI role that makes leases makes non-renewable ones; the issue is a write
    with parameters, and the answer's non-text values come as JSON."""
    bao = lease_engines.bao
    pki = lease_engines.engines.pki_mount
    bao.request(
        "POST",
        f"/v1/{pki}/roles/leased",
        {"allowed_domains": ["example.test"], "allow_subdomains": True, "generate_lease": True},
    )
    backend = _backend(lease_engines, bao.root_token)
    try:
        leases = _leases(backend)
        lease = await leases.issue(f"{pki}/issue/leased", {"common_name": "l.example.test"})
        assert lease.lease_id and not lease.renewable
        assert lease.parent_expires_at is None  # the root token never expires
        assert lease.data["certificate"].startswith("-----BEGIN CERTIFICATE-----")
        assert lease.data["ca_chain"].startswith('["-----BEGIN CERTIFICATE-----')
        with pytest.raises(RenewalRefusedError, match=lease.lease_id):
            await leases.renew(lease.lease_id, 60)
        await leases.revoke(lease.lease_id)
    finally:
        await backend.close()


async def test_a_certificate_verifies_against_the_ca_with_the_names_asked_for(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    engines = lease_engines.engines
    request = CertificateRequest(
        common_name="app.example.test",
        alt_names=("www.example.test", "app.ns.svc.cluster.local"),
        ip_sans=("127.0.0.1", "::1"),
        ttl=300,
    )
    before = datetime.now(UTC)
    issued = await _leases(backend).issue_certificate(engines.issue_path(), request)
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    ca = x509.load_pem_x509_certificate(engines.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    assert issued.issuing_ca.strip() == engines.ca_pem.strip()
    assert [c.strip() for c in issued.ca_chain] == [engines.ca_pem.strip()]
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["app.example.test"]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "app.example.test",
        "www.example.test",
        "app.ns.svc.cluster.local",
    }
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert issued.not_after == cert.not_valid_after_utc
    assert timedelta(seconds=290) < issued.not_after - before <= timedelta(seconds=301)
    assert int(issued.serial_number.replace(":", ""), 16) == cert.serial_number
    key = serialization.load_pem_private_key(issued.private_key.encode(), password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    assert key.public_key().public_bytes(pem, public) == cert.public_key().public_bytes(pem, public)


async def test_a_name_the_role_does_not_allow_is_refused(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    path = lease_engines.engines.issue_path()
    with pytest.raises(InvalidBackendConfigError, match="pki/issue"):
        await _leases(backend).issue_certificate(path, CertificateRequest("evil.example.com"))


async def test_every_call_is_counted_under_its_operation(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    engines = lease_engines.engines
    leases = _leases(backend)
    path = engines.creds_path(lease_engines.database_role(60, 120).name)
    first = await leases.issue(path, {})
    second = await leases.issue(path, {})
    await leases.renew(first.lease_id, 30)
    await leases.lookup_lease(first.lease_id)
    await leases.revoke(first.lease_id)
    await leases.revoke(second.lease_id)
    with pytest.raises(LeaseNotFoundError):
        await leases.lookup_lease(first.lease_id)
    await leases.issue_certificate(engines.issue_path(), CertificateRequest("c.example.test"))
    calls = backend.calls
    assert calls.get("issue") == 2
    assert calls.get("lookup_token") == 1  # once per token
    assert calls.get("renew") == 1
    assert calls.get("lookup_lease", "ok") == 1
    assert calls.get("lookup_lease", "not_found") == 1
    assert calls.get("revoke") == 2
    assert calls.get("issue_certificate") == 1
    assert calls.total() == 9


async def test_no_password_or_private_key_shows_anywhere(
    lease_engines: LeaseServers, backend: VaultBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engines = lease_engines.engines
    leases = _leases(backend)
    lease = await leases.issue(engines.creds_path(lease_engines.database_role(60, 120).name), {})
    cert = await leases.issue_certificate(
        engines.issue_path(), CertificateRequest("k.example.test")
    )
    canary = "canary-param-5e0b"
    shown = [repr(lease), repr(cert), repr(leases), repr(backend)]
    failures = [
        leases.issue(engines.creds_path("no-such-role"), {"canary": canary}),
        leases.issue_certificate(engines.issue_path(), CertificateRequest(f"{canary}.evil")),
        leases.renew("database/creds/none/x"),
        leases.lookup_lease("database/creds/none/x"),
        leases.issue("secret/../sys/raw", {}),
    ]
    await leases.revoke(lease.lease_id)
    failures.append(leases.renew(lease.lease_id))
    for failure in failures:
        with pytest.raises(BackendError) as caught:
            await failure
        shown += [str(caught.value), repr(caught.value)]
    shown += [r.getMessage() for r in caplog.records]
    secrets = [lease.data["password"], cert.private_key, canary]
    secrets += [line for line in cert.private_key.splitlines() if "-----" not in line]
    for text in shown:
        for secret in secrets:
            assert secret not in text


async def test_closing_leaves_the_leases_of_a_login_alive(lease_engines: LeaseServers) -> None:
    """Vault revokes a token's leases with it: a client that issued leases keeps its
    login token on close, one that did not revokes it as before."""
    role = lease_engines.database_role(300, 600)
    issuing = _approle_backend(lease_engines)
    lease = await _leases(issuing).issue(lease_engines.engines.creds_path(role.name), {})
    assert lease.parent_expires_at is not None  # the AppRole's 1 h token
    assert lease.parent_expires_at - datetime.now(UTC) <= timedelta(hours=1)
    await issuing.close()
    assert issuing.calls.get("revoke") == 0

    observer = _backend(lease_engines)
    try:
        state = await _leases(observer).lookup_lease(lease.lease_id)
        assert state.expires_at > datetime.now(UTC) + timedelta(seconds=200)
        assert lease_engines.postgres.can_log_in(lease.data["username"], lease.data["password"])
        await _leases(observer).revoke(lease.lease_id)
    finally:
        await observer.close()

    reader = _approle_backend(lease_engines)
    await reader.probe()
    await reader.close()
    assert reader.calls.get("revoke") == 1  # a token no lease hangs on is revoked


def test_other_backend_types_issue_no_leases() -> None:
    with pytest.raises(LeasesUnsupportedError, match="issues no leased secrets"):
        lease_issuer(object())


async def test_a_revoked_certificate_is_listed_revoked_and_revoking_again_is_no_error(
    lease_engines: LeaseServers, backend: VaultBackend
) -> None:
    engines = lease_engines.engines
    leases = _leases(backend)
    cert = await leases.issue_certificate(
        engines.issue_path(), CertificateRequest("r.example.test", ttl=300)
    )

    def revoked_at() -> int:
        path = f"/v1/{engines.pki_mount}/cert/{cert.serial_number}"
        stored = lease_engines.bao.request("GET", path)
        return int(stored["data"]["revocation_time"])

    assert revoked_at() == 0
    await leases.revoke_certificate(engines.pki_mount, cert.serial_number)
    assert revoked_at() > 0
    await leases.revoke_certificate(engines.pki_mount, cert.serial_number)  # again
    await leases.revoke_certificate(engines.pki_mount, "01:02:03:04")  # never issued
    assert backend.calls.get("revoke_certificate", "ok") == 2
    assert backend.calls.get("revoke_certificate", "not_found") == 1
