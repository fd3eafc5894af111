"""FederationCertificate against OpenBao's PKI engine with the operator running: the
``kubernetes.io/tls`` Secret's certificate verifies against the PKI's CA with the
chain it carries, names what was asked for and matches its key; with a 30 s TTL and
a 10 s ``renewBefore`` it is re-issued several times, each before the previous one
expires, with one rollout restart per re-issue; status and the expiry metric follow
each certificate; an operator restart re-issues nothing while the certificate is
valid, and one that fell due while the operator was down is re-issued once; a
rollout restart lost with a SIGKILLed operator is made by its successor, once; a
role whose max TTL is shorter than ``renewBefore`` gets a re-issue at two thirds of
the lifetime (not once a second), said once; no private key shows in the log,
Events, status or metrics. With ``deletionPolicy:
Revoke`` the replaced certificates are revoked after their grace period and the
last one on deletion; with ``Delete`` none is. A name the role refuses and a Secret
of another's are refused with their reasons, writing nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from scaivault_devenv.openbao_engines import add_pki_role
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.labels import CERTIFICATE_SERIAL_ANNOTATION
from tests.backends.harness_leases import LeaseServers

from .helpers import Cluster, decoded, eventually
from .leasing import gone
from .test_leases import create, url
from .test_rollout_and_refresh import Workloads, restart_operator

pytestmark = pytest.mark.e2e

PLURAL = "federationcertificates"
COMMON_NAME = "web.example.test"
ALT_NAMES = ["api.example.test", "web.shop.svc.cluster.local"]
IP_SANS = ["127.0.0.1", "::1"]


@dataclass(frozen=True)
class Seen:
    """One certificate as the Secret held it, and when the test first saw it."""

    serial: int
    not_after: datetime
    seen_at: datetime
    data: dict[str, str]


def leaf_of(data: dict[str, str]) -> x509.Certificate:
    return x509.load_pem_x509_certificates(data["tls.crt"].encode())[0]


def check_tls(data: dict[str, str], ca_pem: str, include_ca: bool) -> x509.Certificate:
    """The Secret's certificate verifies against the CA over the chain it carries,
    names what was asked for, and its key is the certificate's."""
    chain = x509.load_pem_x509_certificates(data["tls.crt"].encode())
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    leaf = chain[0]
    assert len(chain) >= 2 and chain[-1] == ca  # the chain up to the CA is included
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(leaf.not_valid_before_utc + timedelta(seconds=1))
        .build_server_verifier(x509.DNSName(COMMON_NAME))
    )
    verified = verifier.verify(leaf, chain[1:])
    assert verified[-1] == ca
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == [COMMON_NAME]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {COMMON_NAME, *ALT_NAMES}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in IP_SANS
    }
    key = serialization.load_pem_private_key(data["tls.key"].encode(), password=None)
    spki = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == leaf.public_key().public_bytes(*spki)
    if include_ca:
        assert x509.load_pem_x509_certificate(data["ca.crt"].encode()) == ca
    else:
        assert "ca.crt" not in data
    return leaf


def serial_text(serial: int) -> str:
    """Vault's spelling of a serial number: hex pairs joined by ':'."""
    digits = f"{serial:x}"
    digits = digits.rjust(len(digits) + len(digits) % 2, "0")
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def metrics_text(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def vault_backend(
    cluster: Cluster, servers: LeaseServers, name: str = "pki", token: str | None = None
) -> None:
    """A Vault FederationBackend logging in with the token restricted to the engines
    (or with ``token``)."""
    await cluster.put_credentials("pki-token", {"token": token or servers.engines.token})
    await cluster.create_backend(
        name,
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": servers.bao.address, "authConfigPath": "pki/token"},
            "pathMapping": {"unused/*": "secret/data/unused/*"},
            "mode": "proxy",
        },
    )


def certificate_spec(servers: LeaseServers, **extra: Any) -> dict[str, Any]:
    return {
        "backendRef": "pki",
        "path": servers.engines.issue_path(),
        "commonName": COMMON_NAME,
        "altNames": ALT_NAMES,
        "ipSans": IP_SANS,
        **extra,
    }


async def certificate_for_web(
    cluster: Cluster,
    servers: LeaseServers,
    workloads: Workloads,
    min_interval: str | None = None,
    **extra: Any,
) -> str:
    """A Deployment ``web`` and a FederationCertificate restarting it (its name), after
    ``min_interval`` when given."""
    await workloads.create("web", {"app": "web"})
    await vault_backend(cluster, servers)
    name = f"web-{uuid.uuid4().hex[:6]}"
    debounce = {} if min_interval is None else {"minInterval": min_interval}
    restarts = [{"kind": "Deployment", "name": "web", **debounce}]
    spec = certificate_spec(servers, rolloutRestartTargets=restarts, **extra)
    await create(cluster, "FederationCertificate", name, spec)
    return name


async def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = await cluster.kube.get(url(cluster, PLURAL, name))
    status: dict[str, Any] = obj.get("status") or {}
    return status


async def wait_ready(cluster: Cluster, name: str, timeout: float = 30) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def probe() -> dict[str, Any] | None:
        nonlocal last
        last = await status_of(cluster, name)
        ready = [c for c in last.get("conditions") or [] if c["type"] == "Ready"]
        return last if ready and ready[0]["status"] == "True" else None

    try:
        return await eventually(probe, timeout, f"{name} to be Ready")
    except AssertionError:
        raise AssertionError(f"{name} is not Ready: {last}") from None


async def refused(cluster: Cluster, name: str) -> dict[str, Any]:
    """The Ready condition once it is False."""

    async def probe() -> dict[str, Any] | None:
        status = await status_of(cluster, name)
        ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        return ready[0] if ready and ready[0]["status"] == "False" else None

    return await eventually(probe, 30, f"{name} to be refused")


async def watch_certificates(cluster: Cluster, secret: str, seconds: float) -> list[Seen]:
    """Every certificate the Secret holds over ``seconds`` (polled twice a second)."""
    seen: list[Seen] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        obj = await cluster.secret(secret)
        if obj is not None:
            data = decoded(obj)
            leaf = leaf_of(data)
            if not seen or seen[-1].serial != leaf.serial_number:
                now = datetime.now(UTC)
                seen.append(Seen(leaf.serial_number, leaf.not_valid_after_utc, now, data))
        await asyncio.sleep(0.5)
    return seen


def key_fragments(seen: list[Seen]) -> list[str]:
    """What would give a private key away: its PEM and each line of its body."""
    fragments = []
    for one in seen:
        pem = one.data["tls.key"]
        fragments.append(pem.strip())
        fragments += [line for line in pem.splitlines() if len(line) >= 16 and "-" not in line]
    return fragments


async def test_certificates_are_reissued_before_expiry_with_one_restart_each(
    cluster: Cluster,
    lease_engines: LeaseServers,
    operator: ManagedProcess,
    operator_log: Path,
    operator_metrics_port: int,
) -> None:
    ca_pem = lease_engines.engines.ca_pem
    workloads = Workloads(cluster)
    await workloads.create("other", {"app": "other"})
    name = await certificate_for_web(
        cluster,
        lease_engines,
        workloads,
        ttl="30s",
        renewBefore="10s",
        includeCA=True,
        target={"name": "web-tls", "labels": {"tier": "web"}},
    )
    status = await wait_ready(cluster, name)
    secret = await cluster.secret("web-tls")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"]["tier"] == "web"
    assert await workloads.generation("web") == 1  # the first issue restarts nothing

    seen = await watch_certificates(cluster, "web-tls", 75)
    reissues = len(seen) - 1
    assert reissues >= 3, [s.not_after for s in seen]
    for one in seen:
        check_tls(one.data, ca_pem, include_ca=True)
    for before, after in itertools.pairwise(seen):
        # in the Secret before the previous one expired, and not before its renewBefore
        assert after.seen_at < before.not_after, (before, after)
        assert after.seen_at > before.not_after - timedelta(seconds=10) - timedelta(seconds=2)

    # one restart per re-issue of the named workload, none of the others
    async def restarts_settled() -> bool | None:
        return (await workloads.generation("web")) - 1 >= reissues or None

    await eventually(restarts_settled, 10, "a restart per re-issue")
    status = await status_of(cluster, name)
    held = leaf_of(decoded(await cluster.secret("web-tls") or {}))
    restarts = await workloads.generation("web") - 1
    rotations = status["rotations"]
    assert restarts == rotations >= reissues
    assert await workloads.generation("other") == 1
    # status and the expiry metric name the certificate the Secret holds
    assert status["serialNumber"] == serial_text(held.serial_number)
    assert instant(status["notAfter"]) == held.not_valid_after_utc
    assert instant(status["nextRenewalAt"]) == held.not_valid_after_utc - timedelta(seconds=10)
    text = await metrics_text(operator_metrics_port)
    expiry = sample(
        text,
        "scaivault_secret_expiry_timestamp_seconds",
        namespace=cluster.namespace,
        kind="FederationCertificate",
        resource=name,
        secret="web-tls",
    )
    assert expiry == held.not_valid_after_utc.timestamp()

    # the canary: no private key in the log, Events, status or metrics
    events = await cluster.events()
    places = {
        "log": await asyncio.to_thread(operator_log.read_text),
        "events": json.dumps(events),
        "status": json.dumps(status),
        "metrics": text,
    }
    for fragment in key_fragments(seen):
        for where, content in places.items():
            assert fragment not in content, f"a private key shows in the {where}"
    print(f"re-issues observed: {reissues}, restarts: {restarts}")


async def test_an_operator_restart_reissues_nothing_while_the_certificate_is_valid(
    cluster: Cluster,
    lease_engines: LeaseServers,
    operator: ManagedProcess,
    operator_log: Path,
    operator_metrics_port: int,
) -> None:
    workloads = Workloads(cluster)
    name = await certificate_for_web(cluster, lease_engines, workloads, ttl="10m")
    before = await wait_ready(cluster, name)
    secret = await cluster.secret(name)  # no target name: the resource's
    assert secret is not None
    check_tls(decoded(secret), lease_engines.engines.ca_pem, include_ca=False)

    await restart_operator(operator, operator_log)

    async def kept_again() -> float | None:
        # the new process has taken the certificate up again: its next renewal is known
        return sample(
            await metrics_text(operator_metrics_port),
            "scaivault_lease_next_renewal_timestamp_seconds",
            namespace=cluster.namespace,
            resource=name,
        )

    await eventually(kept_again, 30, "the restarted operator to keep the certificate")
    await asyncio.sleep(2)
    after = await status_of(cluster, name)
    assert after["serialNumber"] == before["serialNumber"]
    assert after["rotations"] == 0
    assert (await cluster.secret(name) or {})["data"] == secret["data"]
    assert await workloads.generation("web") == 1
    issued = [e for e in await cluster.events() if e.get("reason") in ("Issued", "Rotated")]
    assert sum(e.get("count", 1) for e in issued) == 1


def revoked(servers: LeaseServers, serial: str) -> bool:
    """Whether the PKI engine lists the certificate as revoked."""
    stored = servers.bao.request("GET", f"/v1/{servers.engines.pki_mount}/cert/{serial}")
    return int(stored["data"]["revocation_time"]) > 0


async def delete_and_wait(cluster: Cluster, plural: str, name: str) -> None:
    await cluster.kube.delete(url(cluster, plural, name))
    await gone(cluster, url(cluster, plural, name))


async def test_revoke_policy_revokes_replaced_certificates_after_the_grace_and_on_delete(
    cluster: Cluster, lease_engines: LeaseServers, operator: ManagedProcess
) -> None:
    await vault_backend(cluster, lease_engines)
    name = f"rev-{uuid.uuid4().hex[:6]}"
    spec = certificate_spec(
        lease_engines, ttl="30s", renewBefore="10s", revokeGracePeriod="3s", deletionPolicy="Revoke"
    )
    await create(cluster, "FederationCertificate", name, spec)
    first = (await wait_ready(cluster, name))["serialNumber"]

    async def replaced() -> dict[str, Any] | None:
        status = await status_of(cluster, name)
        return status if status.get("serialNumber") not in (None, first) else None

    second = await eventually(replaced, 30, "the certificate to be re-issued")
    # written with its successor, the replaced one waits out its grace period
    assert [p["serialNumber"] for p in second["pendingRevocations"]] == [first]
    assert not revoked(lease_engines, first)

    async def revoked_first() -> bool | None:
        status = await status_of(cluster, name)
        return (revoked(lease_engines, first) and not status.get("pendingRevocations")) or None

    await eventually(revoked_first, 10, "the replaced certificate to be revoked")
    current = (await status_of(cluster, name))["serialNumber"]
    assert not revoked(lease_engines, current)

    await delete_and_wait(cluster, PLURAL, name)
    assert revoked(lease_engines, current)
    assert await cluster.secret(name) is None
    reasons = [e["reason"] for e in await cluster.events() if e["involvedObject"]["name"] == name]
    assert "Revoked" in reasons


async def test_delete_policy_deletes_the_secret_and_revokes_nothing(
    cluster: Cluster, lease_engines: LeaseServers, operator: ManagedProcess
) -> None:
    await vault_backend(cluster, lease_engines)
    name = f"del-{uuid.uuid4().hex[:6]}"
    await create(cluster, "FederationCertificate", name, certificate_spec(lease_engines))
    serial = (await wait_ready(cluster, name))["serialNumber"]
    assert await cluster.secret(name) is not None
    await delete_and_wait(cluster, PLURAL, name)
    assert await cluster.secret(name) is None
    assert not revoked(lease_engines, serial)


async def test_a_name_the_role_refuses_shows_in_status_and_metrics_and_writes_nothing(
    cluster: Cluster,
    lease_engines: LeaseServers,
    operator: ManagedProcess,
    operator_metrics_port: int,
) -> None:
    await vault_backend(cluster, lease_engines)
    name = f"bad-{uuid.uuid4().hex[:6]}"
    spec = {**certificate_spec(lease_engines), "commonName": "web.elsewhere.example"}
    await create(cluster, "FederationCertificate", name, spec)

    ready = await refused(cluster, name)
    assert ready["reason"] == "InvalidConfig"
    assert lease_engines.engines.issue_path() in ready["message"]
    assert await cluster.secret(name) is None
    failing = sample(
        await metrics_text(operator_metrics_port),
        "scaivault_lease_renewal_failing",
        namespace=cluster.namespace,
        kind="FederationCertificate",
        resource=name,
    )
    assert failing == 1


async def test_a_secret_of_another_is_never_overwritten_and_nothing_is_issued(
    cluster: Cluster, lease_engines: LeaseServers, operator: ManagedProcess
) -> None:
    await vault_backend(cluster, lease_engines)
    await cluster.put_secret("taken-tls", {"tls.crt": "theirs", "tls.key": "theirs"})
    name = f"taken-{uuid.uuid4().hex[:6]}"
    spec = certificate_spec(lease_engines, target={"name": "taken-tls"})
    await create(cluster, "FederationCertificate", name, spec)

    assert (await refused(cluster, name))["reason"] == "SecretConflict"
    status = await status_of(cluster, name)
    # every certificate issued is in the status before its Secret is written: none was
    assert "serialNumber" not in status
    assert decoded(await cluster.secret("taken-tls") or {}) == {
        "tls.crt": "theirs",
        "tls.key": "theirs",
    }


async def test_a_certificate_due_while_the_operator_was_down_is_reissued_once(
    cluster: Cluster,
    lease_engines: LeaseServers,
    operator: ManagedProcess,
    operator_log: Path,
) -> None:
    workloads = Workloads(cluster)
    name = await certificate_for_web(
        cluster, lease_engines, workloads, ttl="60s", renewBefore="50s"
    )
    before = await wait_ready(cluster, name)
    due = instant(before["nextRenewalAt"])
    operator.stop()
    try:
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
        assert (await status_of(cluster, name))["serialNumber"] == before["serialNumber"]
    finally:
        await restart_operator(operator, operator_log)  # started again whatever happened

    async def reissued() -> dict[str, Any] | None:
        status = await status_of(cluster, name)
        return status if status["serialNumber"] != before["serialNumber"] else None

    after = await eventually(reissued, 30, "the due certificate to be re-issued")
    assert instant(after["notAfter"]) > datetime.now(UTC)
    await eventually(lambda: _generation_is(workloads, 2), 10, "web to be restarted")
    await asyncio.sleep(3)
    assert (await status_of(cluster, name))["rotations"] == 1
    assert await workloads.generation("web") == 2


async def _generation_is(workloads: Workloads, generation: int) -> bool:
    return await workloads.generation("web") == generation


def short_pki_role(servers: LeaseServers, max_ttl: int) -> tuple[str, str]:
    """A PKI role of the test's own whose certificates live ``max_ttl`` seconds (its
    default TTL unset: the max TTL caps it), and a token that may issue with it only:
    its issue path and the token."""
    bao = servers.bao
    role = f"short-{uuid.uuid4().hex[:6]}"
    path = add_pki_role(bao, role, max_ttl)
    policy = f'path "{path}" {{\n  capabilities = ["create", "update"]\n}}\n'
    bao.request("PUT", f"/v1/sys/policies/acl/{role}", {"policy": policy})
    made = bao.request("POST", "/v1/auth/token/create", {"policies": [role], "ttl": "1h"})
    return path, str(made["auth"]["client_token"])


async def test_a_renew_before_longer_than_the_roles_max_ttl_reissues_at_two_thirds(
    cluster: Cluster, lease_engines: LeaseServers, operator: ManagedProcess
) -> None:
    """The role grants 20 s; renewBefore is 1 min: re-issued every 13 s or so (not once
    a second), said once in a Warning event and in a condition naming both."""
    lifetime = 20
    path, token = short_pki_role(lease_engines, lifetime)
    await vault_backend(cluster, lease_engines, token=token)
    name = f"short-{uuid.uuid4().hex[:6]}"
    spec = {**certificate_spec(lease_engines), "path": path, "renewBefore": "1m"}
    await create(cluster, "FederationCertificate", name, spec)
    await wait_ready(cluster, name)

    watched = 45
    seen = await watch_certificates(cluster, name, watched)
    status = await status_of(cluster, name)
    # about one issue every two thirds of the lifetime: 4 in 45 s, one more at most for
    # the time the first took to show
    issues = status["rotations"] + 1
    assert 3 <= issues <= watched // (lifetime * 2 // 3) + 2, issues
    for before, after in itertools.pairwise(seen):
        used = (after.seen_at - before.seen_at).total_seconds()
        assert lifetime * 2 / 3 - 2 < used < lifetime, [s.seen_at for s in seen]
    condition = next(c for c in status["conditions"] if c["type"] == "RenewBeforeApplied")
    assert (condition["status"], condition["reason"]) == ("False", "RenewBeforeTooLong")
    assert "spec.renewBefore (1m)" in condition["message"]
    assert re.search(r"the (19|20)s lifetime", condition["message"]), condition["message"]
    warned = [e for e in await cluster.events() if e.get("reason") == "RenewBeforeTooLong"]
    assert sum(e.get("count", 1) for e in warned) == 1, warned
    assert warned[0]["type"] == "Warning"


async def test_a_restart_lost_with_a_killed_operator_is_made_by_its_successor(
    cluster: Cluster,
    lease_engines: LeaseServers,
    operator: ManagedProcess,
    operator_log: Path,
) -> None:
    """SIGKILL after the re-issued certificate was written and before the restart its
    minInterval holds back: the next process restarts the workload, once."""
    workloads = Workloads(cluster)
    name = await certificate_for_web(
        cluster, lease_engines, workloads, min_interval="10s", ttl="60s", renewBefore="20s"
    )
    first = (await wait_ready(cluster, name))["serialNumber"]
    assert (await status_of(cluster, name))["restartedFor"] == first  # started on it

    async def reissued() -> str | None:
        secret = await cluster.secret(name)
        held = (secret or {}).get("metadata", {}).get("annotations", {})
        serial = held.get(CERTIFICATE_SERIAL_ANNOTATION)
        return serial if serial not in (None, first) else None

    second = await eventually(reissued, 60, "the certificate to be re-issued")
    assert operator.pid is not None
    os.killpg(operator.pid, signal.SIGKILL)
    assert await workloads.generation("web") == 1  # held back by its minInterval
    assert (await status_of(cluster, name))["restartedFor"] == first

    await restart_operator(operator, operator_log)
    await eventually(lambda: _generation_is(workloads, 2), 30, "web to be restarted")
    status = await eventually(
        lambda: _restarted_for(cluster, name, second), 10, "restartedFor to name it"
    )
    assert status["serialNumber"] == second
    await asyncio.sleep(3)
    assert await workloads.generation("web") == 2
    restarted = [e for e in await cluster.events() if e.get("reason") == "RolloutRestarted"]
    assert sum(e.get("count", 1) for e in restarted) == 1


async def _restarted_for(cluster: Cluster, name: str, serial: str) -> dict[str, Any] | None:
    status = await status_of(cluster, name)
    return status if status.get("restartedFor") == serial else None
