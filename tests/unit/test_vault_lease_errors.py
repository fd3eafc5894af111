"""Vault's 400 answers to lease requests, as the lease errors they mean; never with
Vault's own words in the message."""

from __future__ import annotations

import json

import pytest

from scaivault_federation.backends.errors import BackendError, InvalidBackendConfigError
from scaivault_federation.backends.leases import LeaseNotFoundError, RenewalRefusedError
from scaivault_federation.backends.vault.errors import answer_error

CANARY = "canary-7f3e-password"


def _answer(*errors: str) -> bytes:
    return json.dumps({"errors": [*errors, CANARY]}).encode()


@pytest.mark.parametrize(
    ("operation", "said", "expected"),
    [
        ("renew", "lease not found", LeaseNotFoundError),
        ("renew", "lease expired", LeaseNotFoundError),
        ("lookup_lease", "invalid lease", LeaseNotFoundError),
        ("revoke", "lease not found", LeaseNotFoundError),
        ("revoke_certificate", "certificate with serial 01:02 not found.", LeaseNotFoundError),
        ("revoke_certificate", "permission denied", BackendError),
        ("renew", "lease is not renewable", RenewalRefusedError),
        ("revoke", "failed to revoke entry: role cannot be dropped", BackendError),
        ("issue", "lease not found", InvalidBackendConfigError),
        ("issue_certificate", "common name not allowed", InvalidBackendConfigError),
    ],
)
def test_lease_answers(operation: str, said: str, expected: type[BackendError]) -> None:
    error = answer_error(400, _answer(said), None, "sys/leases/renew", operation)
    assert type(error) is expected
    assert CANARY not in error.message


def test_a_failed_revocation_may_be_tried_again() -> None:
    error = answer_error(
        400, _answer("failed to revoke entry"), None, "sys/leases/revoke", "revoke"
    )
    assert error.retryable
