"""How a FederationLease's or FederationCertificate's status becomes its API view and a
row of the ``leases`` and ``certificates`` commands: expiry and next renewal shown,
soonest first, never a lease id."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scaivault_federation import cli
from scaivault_federation.console import commands
from scaivault_federation.console.tables import until
from scaivault_federation.models.leased import FEDERATION_CERTIFICATE, FEDERATION_LEASE
from scaivault_federation.models.leased_view import (
    CertificateView,
    LeaseView,
    certificate_view,
    lease_view,
)

LEASE_ID = "database/creds/app/lease-id-canary-77a0"
NOW = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)


def leased(kind: str, name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}", "generation": 2},
        "spec": spec,
        "status": status,
    }


READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Issued",
    "message": "lease of database/creds/app held",
    "lastTransitionTime": "2031-05-04T01:00:00Z",
}


def test_a_lease_s_view_carries_its_expiry_and_no_lease_id() -> None:
    obj = leased(
        "FederationLease",
        "db",
        {"backendRef": "vault", "path": "database/creds/app"},
        {
            "conditions": [READY],
            "secretName": "db-creds",
            "leaseId": LEASE_ID,
            "issuedAt": "2031-05-04T01:00:00Z",
            "expiresAt": "2031-05-04T03:00:00Z",
            "nextRenewalAt": "2031-05-04T02:20:00Z",
            "tokenExpiresAt": "2031-05-05T01:00:00Z",
            "renewable": True,
            "renewals": 4,
            "rotations": 1,
        },
    )
    view = lease_view(FEDERATION_LEASE.parse(obj))
    assert set(view) == set(LeaseView.model_fields)
    assert view["namespace"] == "team-a" and view["name"] == "db"
    assert view["backend_ref"] == "vault" and view["path"] == "database/creds/app"
    assert view["secret_name"] == "db-creds"
    assert (view["ready"], view["reason"]) == (True, "Issued")
    assert view["expires_at"] == "2031-05-04T03:00:00Z"
    assert view["next_renewal_at"] == "2031-05-04T02:20:00Z"
    assert view["token_expires_at"] == "2031-05-05T01:00:00Z"
    assert (view["renewals"], view["rotations"], view["renewable"]) == (4, 1, True)
    assert LEASE_ID not in json.dumps(view)


def test_a_certificate_s_view_and_one_not_reported_yet() -> None:
    spec = {"backendRef": "vault", "path": "pki/issue/web", "commonName": "web.example"}
    obj = leased(
        "FederationCertificate",
        "web",
        spec,
        {
            "serialNumber": "1a:2b",
            "notAfter": "2031-06-01T00:00:00Z",
            "expiresAt": "2031-06-01T00:00:00Z",
        },
    )
    view = certificate_view(FEDERATION_CERTIFICATE.parse(obj))
    assert set(view) == set(CertificateView.model_fields)
    assert (view["common_name"], view["serial_number"]) == ("web.example", "1a:2b")
    assert view["expires_at"] == "2031-06-01T00:00:00Z"
    assert (view["ready"], view["reason"], view["message"]) == (None, None, None)
    # a spec the models refuse still shows what it names
    bad = certificate_view(
        FEDERATION_CERTIFICATE.parse(
            leased("FederationCertificate", "x", {**spec, "path": "sys/x"}, {})
        )
    )
    assert (bad["backend_ref"], bad["path"], bad["common_name"]) == (
        "vault",
        "sys/x",
        "web.example",
    )


def test_until_says_how_far_ahead_or_ago() -> None:
    assert until("2031-05-04T08:03:01Z", NOW) == "in 5h"
    assert until("2031-05-04T03:00:01Z", NOW) == "2m ago"
    assert until(None, NOW) == "-"


class Answers:
    """The API's answer to the listing, as the client returns it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.asked: list[tuple[str, dict[str, str] | None]] = []

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        self.asked.append((path, params))
        return self.doc


def test_the_leases_command_lists_soonest_expiry_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def lease(name: str, expires: datetime | None) -> dict[str, Any]:
        return {
            "namespace": "team-a",
            "name": name,
            "backend_ref": "vault",
            "path": "database/creds/app",
            "secret_name": f"{name}-creds",
            "ready": True,
            "reason": "Issued",
            "expires_at": None if expires is None else expires.isoformat(),
            "next_renewal_at": None,
            "rotations": 0,
        }

    answers = Answers(
        {
            "leases": [
                lease("late", now + timedelta(days=3, hours=1)),
                lease("unknown", None),
                lease("soon", now + timedelta(hours=5, minutes=1)),
            ]
        }
    )
    monkeypatch.setattr(commands, "connect", lambda args: answers)
    args: argparse.Namespace = cli._parser().parse_args(["leases", "-n", "team-a"])
    assert args.handler(args) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "BACKEND", "PATH", "SECRET", "READY", "EXPIRES",
        "NEXT", "RENEWAL", "ROTATIONS", "REASON",
    ]  # fmt: skip
    assert [row.split()[1] for row in rows] == ["soon", "late", "unknown"]
    assert rows[0].split()[6:8] == ["in", "5h"] and rows[1].split()[6:8] == ["in", "3d"]
    assert answers.asked == [("/v1/federation/leases", {"namespace": "team-a"})]
