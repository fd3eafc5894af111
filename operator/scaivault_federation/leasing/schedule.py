"""When to renew a lease, when to replace it, when to revoke the one it replaced, and
when to re-issue a certificate. Pure: times in, decisions out.

A lease is renewed once ``renewFraction`` of the duration last granted has passed.
It is replaced (new credentials issued, written, the workloads restarted) once the
time left before it can no longer be extended is under the rotation margin
(``rotateBefore``, by default the share of the TTL ``renewFraction`` leaves):
when the last renewal granted less than needed to reach the next one (its max TTL
is near), or when the token that holds it is about to expire (the backend revokes
the lease with its token). A renewal the backend refuses, or a lease it no longer
holds, is replaced at once. The replaced lease is revoked ``revokeGracePeriod``
after the new credentials were written.

A certificate is re-issued ``renewBefore`` before its notAfter, or at two thirds of
its lifetime when no ``renewBefore`` is set or the one set would leave it in use for
less than a third of the lifetime the PKI granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ..backends.leases import IssuedLease, RenewedLease
from ..models.lease_status import PendingRevocation

#: never renew more often than this (a lease of a second's TTL would spin)
MIN_RENEW_INTERVAL = timedelta(seconds=1)


class Step(StrEnum):
    ISSUE = "issue"
    RENEW = "renew"
    ROTATE = "rotate"
    REVOKE_OLD = "revoke-old"


@dataclass(frozen=True)
class Policy:
    renew_fraction: float
    #: ``None``: the share of the TTL the renew fraction leaves
    rotate_before: timedelta | None
    revoke_grace: timedelta


@dataclass(frozen=True)
class Held:
    """The lease the Secret's credentials belong to, as far as the operator knows."""

    lease_id: str
    issued_at: datetime
    #: when the last renewal (or the issue) was granted, and for how long
    renewed_at: datetime
    duration: timedelta
    #: what the issue granted (the TTL)
    ttl: timedelta
    renewable: bool
    #: when the token holding the lease expires (``None``: never)
    token_expires_at: datetime | None = None

    @property
    def expires_at(self) -> datetime:
        return self.renewed_at + self.duration


@dataclass(frozen=True)
class Plan:
    step: Step
    at: datetime
    #: why, for the status and the log (never a value)
    why: str


def issued(lease: IssuedLease, now: datetime) -> Held:
    duration = timedelta(seconds=lease.duration)
    return Held(
        lease_id=lease.lease_id,
        issued_at=now,
        renewed_at=now,
        duration=duration,
        ttl=duration,
        renewable=lease.renewable,
        token_expires_at=lease.parent_expires_at,
    )


def renewed(held: Held, renewal: RenewedLease, now: datetime) -> Held:
    return replace(
        held,
        renewed_at=now,
        duration=timedelta(seconds=renewal.duration),
        renewable=renewal.renewable,
    )


def rotate_margin(held: Held, policy: Policy) -> timedelta:
    if policy.rotate_before is not None:
        return policy.rotate_before
    return held.ttl * (1 - policy.renew_fraction)


def renew_at(held: Held, policy: Policy) -> datetime:
    return held.renewed_at + max(MIN_RENEW_INTERVAL, held.duration * policy.renew_fraction)


def capped(held: Held) -> bool:
    """Whether the last renewal granted less than the TTL: the lease's max TTL is near,
    and renewing again gains nothing."""
    return held.duration < held.ttl - MIN_RENEW_INTERVAL


def rotate_at(held: Held, policy: Policy) -> tuple[datetime, str] | None:
    """When the lease must be replaced at the latest, and why (``None``: renewing keeps
    it going)."""
    margin = rotate_margin(held, policy)
    at: datetime | None = None
    why = ""
    if not held.renewable:
        at, why = held.expires_at - margin, "the lease is not renewable"
    elif capped(held):
        at, why = held.expires_at - margin, "the lease reaches its maximum TTL"
    token = held.token_expires_at
    # a lease issued that close to its token's end gets nothing from a new one (the
    # backend may still hold the same token): it lives as long as the token does
    if (
        token is not None
        and held.issued_at < token - margin
        and (at is None or token - margin < at)
    ):
        at, why = token - margin, "the token holding the lease expires soon"
    return (at, why) if at is not None else None


def next_step(
    held: Held | None, pending: Sequence[PendingRevocation], policy: Policy, now: datetime
) -> Plan:
    """What to do next about a lease, and when (``at`` may be past: do it now)."""
    if held is None:
        return Plan(Step.ISSUE, now, "no credentials yet")
    plans: list[Plan] = []
    rotation = rotate_at(held, policy)
    renew = renew_at(held, policy)
    if rotation is not None and (rotation[0] <= renew or not held.renewable or capped(held)):
        plans.append(Plan(Step.ROTATE, *rotation))
    else:
        plans.append(Plan(Step.RENEW, renew, "renewFraction of the lease has passed"))
    for old in pending:
        plans.append(Plan(Step.REVOKE_OLD, old.revoke_at, "its grace period is over"))
    # revocations first when due together: they never wait on a renewal
    return min(plans, key=lambda p: (p.at, p.step is not Step.REVOKE_OLD))


def revocation(lease_id: str, policy: Policy, now: datetime) -> PendingRevocation:
    return PendingRevocation(lease_id=lease_id, revoke_at=now + policy.revoke_grace)


def renew_before_too_long(
    issued_at: datetime, not_after: datetime, renew_before: timedelta | None
) -> bool:
    """Whether ``renewBefore`` would leave the certificate in use for less than a third
    of the lifetime it was granted (the PKI role's max TTL, or its default TTL, may give
    a shorter one than asked for): it is then re-issued at two thirds of its lifetime."""
    if renew_before is None:
        return False
    return not_after - renew_before < issued_at + (not_after - issued_at) / 3


def certificate_renew_at(
    issued_at: datetime, not_after: datetime, renew_before: timedelta | None
) -> datetime:
    """When a certificate is re-issued: ``renewBefore`` before notAfter, by default (and
    when ``renewBefore`` is too long for it) a third of its lifetime before."""
    margin = renew_before
    if margin is None or renew_before_too_long(issued_at, not_after, margin):
        margin = (not_after - issued_at) / 3
    return max(issued_at + MIN_RENEW_INTERVAL, not_after - margin)
