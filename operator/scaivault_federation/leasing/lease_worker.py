"""A FederationLease: dynamic credentials kept in a Secret.

The first step after a start takes the lease the status names and the Secret holds
(looked up at the backend: never a new one while it is valid); a Secret that does
not hold it, or a lease the backend no longer holds, means new credentials. The
status is written before the Secret whenever a new lease is issued, so no lease is
ever issued that the status does not track; a replaced lease stays in
``pendingRevocations`` until it is revoked.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from .. import conditions as c
from ..backends.leases import (
    IssuedLease,
    LeaseIssuer,
    LeaseNotFoundError,
    RenewalRefusedError,
)
from ..labels import LEASE_ID_ANNOTATION
from ..models.lease import LeaseDeletionPolicy, LeaseSpec
from ..models.lease_status import LeaseStatus, PendingRevocation
from ..models.shape import PathContext, Shaped, secret_name, shape_secret
from ..models.target import DEFAULT_TARGET
from .schedule import (
    Held,
    Plan,
    Policy,
    Step,
    issued,
    next_step,
    renewed,
    revocation,
    rotate_margin,
)
from .worker import Worker

log = logging.getLogger(__name__)


def token_ending(held: Held, policy: Policy, now: datetime) -> bool:
    """Whether the token holding the lease is within the rotation margin of its end."""
    token = held.token_expires_at
    return token is not None and token - rotate_margin(held, policy) <= now


def policy_of(spec: LeaseSpec) -> Policy:
    return Policy(spec.renew_fraction, spec.rotate_margin, spec.revoke_grace)


def held_of(status: LeaseStatus) -> Held | None:
    """The lease the status names, as the schedule sees it."""
    if not status.lease_id or status.expires_at is None or status.issued_at is None:
        return None
    renewed_at = status.renewed_at or status.issued_at
    duration = status.expires_at - renewed_at
    ttl = duration if status.lease_duration is None else timedelta(seconds=status.lease_duration)
    return Held(
        lease_id=status.lease_id,
        issued_at=status.issued_at,
        renewed_at=renewed_at,
        duration=duration,
        ttl=ttl,
        renewable=bool(status.renewable),
        token_expires_at=status.token_expires_at,
    )


def issued_for(spec: LeaseSpec) -> str:
    """What the credentials in the Secret depend on: when it changes, new ones are
    issued (a change of the renewal, deletion or restart settings keeps them)."""
    fields = {"backend_ref", "path", "parameters", "target"}
    return json.dumps(spec.model_dump(include=fields, mode="json"), sort_keys=True)


class LeaseWorker(Worker[LeaseSpec, LeaseStatus]):
    held: Held | None = None
    adopted = False
    #: :func:`issued_for` of the spec the held lease was issued for (``None``: unknown)
    issued_spec: str | None = None

    def resume(self) -> None:
        self.held = None
        self.adopted = False
        self.issued_spec = None

    def held_id(self) -> str | None:
        return self.status.lease_id

    def _secret_name(self, spec: LeaseSpec) -> str:
        if spec.target is None or spec.target.name is None:
            return self.name
        return secret_name(spec.target.for_path(spec.path), PathContext(spec.path, spec.path))

    async def keep(self, spec: LeaseSpec, issuer: LeaseIssuer, now: datetime) -> datetime | None:
        policy = policy_of(spec)
        if not self.adopted:
            await self._adopt(spec, issuer, now)
            self.adopted = True
            if self.status.observed_generation in (None, self.resource.generation):
                self.issued_spec = issued_for(spec)  # else changed while no one looked
        changed = self.held is not None and self.issued_spec != issued_for(spec)
        while True:
            now = self.deps.clock.now()
            if changed:
                plan: Plan = Plan(Step.ROTATE, now, "the spec changed")
                changed = False
            else:
                plan = next_step(self.held, self.status.pending_revocations, policy, now)
            if plan.at > now:
                break
            await self._do(plan, spec, issuer, policy, now)
        status = self.ready(self.status, c.ISSUED, f"lease of {spec.path} held", now)
        status = status.model_copy(update={"next_renewal_at": plan.at})
        await self.save(status)
        self.metrics.next_renewal(plan.at)
        return plan.at

    async def _adopt(self, spec: LeaseSpec, issuer: LeaseIssuer, now: datetime) -> None:
        """Start from the status: keep its lease if the Secret holds it and the backend
        still does; otherwise track it for revocation and issue anew."""
        held = held_of(self.status)
        if held is None:
            return
        existing = await self.own_secret(self._secret_name(spec))
        in_secret = existing is not None and (
            existing.annotations.get(LEASE_ID_ANNOTATION) == held.lease_id
        )
        if not in_secret:
            log.info("%s/%s: the Secret does not hold lease; a new one is issued", *self._names)
            await self._track_for_revocation(held.lease_id, now)
            return
        try:
            state = await issuer.lookup_lease(held.lease_id)
        except LeaseNotFoundError:
            self.metrics.failed(c.LEASE_NOT_FOUND)
            await self.record(
                c.LEASE_NOT_FOUND, "the backend no longer holds the lease", warning=True
            )
            return
        self.held = Held(
            lease_id=held.lease_id,
            issued_at=held.issued_at,
            renewed_at=held.renewed_at,
            duration=state.expires_at - held.renewed_at,
            ttl=held.ttl,
            renewable=state.renewable,
            token_expires_at=held.token_expires_at,
        )

    async def _track_for_revocation(self, lease_id: str, now: datetime) -> None:
        pending = [
            *self.status.pending_revocations,
            PendingRevocation(lease_id=lease_id, revoke_at=now),
        ]
        await self.save(
            self.status.model_copy(update={"lease_id": None, "pending_revocations": pending})
        )

    async def _do(
        self, plan: Plan, spec: LeaseSpec, issuer: LeaseIssuer, policy: Policy, now: datetime
    ) -> None:
        if plan.step is Step.REVOKE_OLD:
            await self._revoke_due(issuer, now)
        elif plan.step is Step.RENEW:
            await self._renew(spec, issuer, policy, now)
        else:
            await self._issue(spec, issuer, policy, now, plan.why)

    async def _renew(
        self, spec: LeaseSpec, issuer: LeaseIssuer, policy: Policy, now: datetime
    ) -> None:
        assert self.held is not None
        try:
            renewal = await issuer.renew(self.held.lease_id)
        except (RenewalRefusedError, LeaseNotFoundError) as exc:
            self.metrics.failed(exc.reason)
            await self.record(
                exc.reason, f"{exc.message}: new credentials are issued", warning=True
            )
            await self._issue(spec, issuer, policy, now, exc.message)
            return
        self.held = renewed(self.held, renewal, now)
        self.metrics.renewed()
        self.metrics.expires(self._secret_name(spec), self.held.expires_at)
        await self.save(
            self.status.model_copy(
                update={
                    "renewed_at": now,
                    "expires_at": self.held.expires_at,
                    "renewable": renewal.renewable,
                    "renewals": self.status.renewals + 1,
                }
            )
        )
        await self.record("Renewed", f"lease renewed until {_stamp(self.held.expires_at)}")

    async def _issue(
        self, spec: LeaseSpec, issuer: LeaseIssuer, policy: Policy, now: datetime, why: str
    ) -> None:
        name = self._secret_name(spec)
        existing = await self.own_secret(name)  # a foreign Secret: nothing is issued
        if self.held is not None and token_ending(self.held, policy, now):
            # the client may still hold that token (it logs in again only at 80% of its
            # life): a lease issued with it would end with it, so log in anew first
            issuer = await self.reconnect(spec.backend_ref)
        lease = await issuer.issue(spec.path, spec.request)
        shaped = self._shape(spec, lease)
        old = self.held
        self.held = issued(lease, now)
        self.issued_spec = issued_for(spec)
        pending = list(self.status.pending_revocations)
        if old is not None:
            pending.append(revocation(old.lease_id, policy, now))
        # the status first: a lease issued is tracked before anything else can fail
        await self.save(
            self.status.model_copy(
                update={
                    "lease_id": lease.lease_id,
                    "lease_duration": round(lease.duration),
                    "renewable": lease.renewable,
                    "issued_at": now,
                    "renewed_at": now,
                    "expires_at": self.held.expires_at,
                    "token_expires_at": lease.parent_expires_at,
                    "secret_name": name,
                    "rotations": self.status.rotations + (old is not None),
                    "pending_revocations": pending,
                    # a first Secret: the workloads start on it, nothing to restart
                    "restarted_for": (
                        lease.lease_id if existing is None else self.status.restarted_for
                    ),
                }
            )
        )
        await self.deps.store.put_secret(
            self.namespace,
            name,
            secret_type=shaped.shape.type,
            labels={**shaped.shape.labels, **self.secret_labels()},
            annotations={**shaped.shape.annotations, LEASE_ID_ANNOTATION: lease.lease_id},
            data=shaped.data,
            existing=existing,
        )
        self.metrics.expires(name, self.held.expires_at)
        if old is None:
            self.metrics.succeeded()
            await self.record("Issued", f"credentials of {spec.path} written to Secret {name}")
        else:
            self.metrics.rotated()
            await self.record("Rotated", f"new credentials written to Secret {name}: {why}")
        if existing is not None:
            self.changed(spec, name)

    def _shape(self, spec: LeaseSpec, lease: IssuedLease) -> Shaped:
        target = spec.target.for_path(spec.path) if spec.target is not None else DEFAULT_TARGET
        return shape_secret(target, dict(lease.data), PathContext(spec.path, spec.path))

    async def _revoke_due(self, issuer: LeaseIssuer, now: datetime) -> None:
        keep: list[PendingRevocation] = []
        for old in self.status.pending_revocations:
            if old.revoke_at > now:
                keep.append(old)
                continue
            await issuer.revoke(old.lease_id)
            await self.record("Revoked", "the replaced lease was revoked")
        await self.save(self.status.model_copy(update={"pending_revocations": keep}))

    async def release(self, spec: LeaseSpec | None, issuer: LeaseIssuer | None) -> None:
        status = self.resource.status if self.status.lease_id is None else self.status
        name = status.secret_name or self.name
        policy = spec.deletion_policy if spec is not None else LeaseDeletionPolicy.RETAIN
        if issuer is not None:
            for old in status.pending_revocations:
                await issuer.revoke(old.lease_id)
            if policy is LeaseDeletionPolicy.REVOKE and status.lease_id:
                await issuer.revoke(status.lease_id)
                await self.record("Revoked", "the lease was revoked: the resource is deleted")
        existing = await self.deps.store.get_secret(self.namespace, name)
        if existing is None or not self.kind.owns(existing.labels, self.name):
            return
        if policy is LeaseDeletionPolicy.REVOKE and issuer is not None:
            await self.deps.store.delete_secret(self.namespace, name, existing.resource_version)
        else:
            await self.deps.store.release_secret(self.namespace, name, self.kind.secret_label)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
