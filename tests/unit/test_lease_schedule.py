"""The leasing schedule, driven by a fake clock against a fake issuer that behaves as
Vault does (a TTL, a maximum TTL, leases dying with their token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from scaivault_federation.backends.leases import IssuedLease, RenewedLease
from scaivault_federation.leasing.schedule import (
    Held,
    Policy,
    Step,
    certificate_renew_at,
    issued,
    next_step,
    renew_before_too_long,
    renewed,
    revocation,
)
from scaivault_federation.models.lease_status import PendingRevocation

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = Policy(renew_fraction=2 / 3, rotate_before=None, revoke_grace=timedelta(seconds=5))


@dataclass
class FakeIssuer:
    """Leases of ``ttl`` seconds, renewable up to ``max_ttl`` after their issue."""

    ttl: float
    max_ttl: float
    token_expires_at: datetime | None = None
    leases: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    issues: int = 0
    revoked: list[str] = field(default_factory=list)

    def issue(self, now: datetime) -> IssuedLease:
        self.issues += 1
        lease_id = f"database/creds/app/{self.issues}"
        self.leases[lease_id] = (now, now + timedelta(seconds=self.ttl))
        return IssuedLease(lease_id, self.ttl, True, {}, self.token_expires_at)

    def renew(self, lease_id: str, now: datetime) -> RenewedLease:
        start, _ = self.leases[lease_id]
        end = min(now + timedelta(seconds=self.ttl), start + timedelta(seconds=self.max_ttl))
        self.leases[lease_id] = (start, end)
        return RenewedLease((end - now).total_seconds(), True)

    def valid(self, lease_id: str, now: datetime) -> bool:
        return lease_id not in self.revoked and now < self.leases[lease_id][1]


def run(issuer: FakeIssuer, seconds: float, policy: Policy = POLICY) -> dict[str, int]:
    """Step the schedule for ``seconds``, checking every 100 ms that the held lease works."""
    now, end = T0, T0 + timedelta(seconds=seconds)
    held: Held | None = None
    pending: list[PendingRevocation] = []
    counts = {"renew": 0, "rotate": 0, "revoke": 0}
    while now < end:
        plan = next_step(held, pending, policy, now)
        while plan.at <= now:
            if plan.step is Step.ISSUE:
                held = issued(issuer.issue(now), now)
            elif plan.step is Step.RENEW:
                assert held is not None
                held = renewed(held, issuer.renew(held.lease_id, now), now)
                counts["renew"] += 1
            elif plan.step is Step.ROTATE:
                assert held is not None
                old, held = held, issued(issuer.issue(now), now)
                pending.append(revocation(old.lease_id, policy, now))
                counts["rotate"] += 1
            else:
                due = [p for p in pending if p.revoke_at <= now]
                pending = [p for p in pending if p.revoke_at > now]
                issuer.revoked.extend(p.lease_id for p in due)
                counts["revoke"] += len(due)
            plan = next_step(held, pending, policy, now)
        assert held is not None and issuer.valid(held.lease_id, now), now - T0
        now += timedelta(milliseconds=100)
    return counts


def test_a_20s_lease_of_60s_max_ttl_always_works_for_3_minutes() -> None:
    issuer = FakeIssuer(ttl=20, max_ttl=60)
    counts = run(issuer, 180)
    # one lease per ~53 s (its max TTL less the margin), renewed 4 times each (the
    # fourth grants less than the TTL: the max TTL is near, and it is replaced)
    assert counts["rotate"] == 3
    assert counts["renew"] == 13
    assert counts["revoke"] == 3
    assert issuer.issues == 4


def test_rotation_writes_new_credentials_before_the_old_expire() -> None:
    issuer = FakeIssuer(ttl=20, max_ttl=60)
    held = issued(issuer.issue(T0), T0)
    now = T0
    for _ in range(4):  # renew up to the max TTL
        now = next_step(held, [], POLICY, now).at
        held = renewed(held, issuer.renew(held.lease_id, now), now)
    plan = next_step(held, [], POLICY, now)
    assert plan.step is Step.ROTATE
    assert "maximum TTL" in plan.why
    assert plan.at < held.expires_at
    assert held.expires_at - plan.at >= timedelta(seconds=6)


def test_a_lease_is_replaced_before_its_token_expires() -> None:
    token_end = T0 + timedelta(seconds=40)
    issuer = FakeIssuer(ttl=20, max_ttl=3600, token_expires_at=token_end)
    held = issued(issuer.issue(T0), T0)
    plan = next_step(held, [], POLICY, T0)
    while plan.step is Step.RENEW:
        held = renewed(held, issuer.renew(held.lease_id, plan.at), plan.at)
        plan = next_step(held, [], POLICY, plan.at)
    assert plan.step is Step.ROTATE
    assert "token" in plan.why
    assert plan.at == token_end - timedelta(seconds=20) / 3


def test_a_lease_issued_close_to_its_token_end_is_not_replaced_again_and_again() -> None:
    token_end = T0 + timedelta(seconds=5)  # within the rotation margin already
    issuer = FakeIssuer(ttl=20, max_ttl=3600, token_expires_at=token_end)
    held = issued(issuer.issue(T0), T0)
    assert next_step(held, [], POLICY, T0).step is Step.RENEW


def test_a_lease_not_renewable_is_replaced_before_it_ends() -> None:
    lease = IssuedLease("aws/creds/x/1", 30, False, {})
    held = issued(lease, T0)
    plan = next_step(held, [], POLICY, T0)
    assert plan.step is Step.ROTATE
    assert plan.at == T0 + timedelta(seconds=20)


def test_rotate_before_is_the_margin_when_set() -> None:
    policy = Policy(2 / 3, timedelta(seconds=2), timedelta(seconds=30))
    held = issued(IssuedLease("x/1", 30, False, {}), T0)
    assert next_step(held, [], policy, T0).at == T0 + timedelta(seconds=28)


def test_a_due_revocation_comes_before_a_renewal() -> None:
    held = issued(IssuedLease("x/2", 30, True, {}), T0)
    old = PendingRevocation(lease_id="x/1", revoke_at=T0 + timedelta(seconds=20))
    plan = next_step(held, [old], POLICY, T0)
    assert plan.step is Step.REVOKE_OLD
    assert plan.at == old.revoke_at


def test_no_lease_issues_at_once() -> None:
    assert next_step(None, [], POLICY, T0).step is Step.ISSUE


@pytest.mark.parametrize(
    ("renew_before", "expected"),
    [(None, timedelta(seconds=40)), (timedelta(seconds=10), timedelta(seconds=50))],
)
def test_certificate_renewal(renew_before: timedelta | None, expected: timedelta) -> None:
    not_after = T0 + timedelta(seconds=60)
    assert certificate_renew_at(T0, not_after, renew_before) == T0 + expected


@pytest.mark.parametrize(
    "renew_before",
    [timedelta(hours=1), timedelta(seconds=10), timedelta(seconds=8), timedelta(seconds=7)],
)
def test_a_renew_before_too_long_for_the_lifetime_renews_at_two_thirds(
    renew_before: timedelta,
) -> None:
    """A role's max TTL gave 10 s: a renewBefore at or past the issue, or leaving less
    than a third of the lifetime, would re-issue at once again and again."""
    not_after = T0 + timedelta(seconds=10)
    assert renew_before_too_long(T0, not_after, renew_before)
    assert certificate_renew_at(T0, not_after, renew_before) == T0 + timedelta(seconds=10) * 2 / 3


def test_a_renew_before_leaving_a_third_of_the_lifetime_is_kept() -> None:
    not_after = T0 + timedelta(seconds=30)
    assert not renew_before_too_long(T0, not_after, timedelta(seconds=20))
    assert certificate_renew_at(T0, not_after, timedelta(seconds=20)) == T0 + timedelta(seconds=10)
    assert not renew_before_too_long(T0, not_after, None)


def test_certificates_of_a_short_role_are_issued_a_bounded_number_of_times() -> None:
    """Re-issued as the schedule says, a 20 s certificate with a 1 min renewBefore is
    issued once every 13 s or so, not once a second."""
    lifetime, renew_before = timedelta(seconds=20), timedelta(minutes=1)
    now, issues = T0, 0
    while now < T0 + timedelta(minutes=1):
        issues += 1
        now = certificate_renew_at(now, now + lifetime, renew_before)
    assert issues == 5
