"""A FederationCertificate: a certificate from a PKI engine kept in a
``kubernetes.io/tls`` Secret (``tls.crt``: the leaf and its chain, ``tls.key``,
``ca.crt`` with ``includeCA``), re-issued ``renewBefore`` before notAfter (at two
thirds of its lifetime when the PKI granted one too short for it, as the
``RenewBeforeApplied`` condition and a Warning event say). After a
start, the certificate the status names is kept while the Secret holds it (its
serial number) and is not due.

With ``deletionPolicy: Revoke`` every certificate issued is revoked once no longer
used: a replaced one ``revokeGracePeriod`` after its successor was written (kept
in ``pendingRevocations`` until then), the last one on deletion."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .. import conditions as c
from ..backends.leases import CertificateRequest, IssuedCertificate, LeaseIssuer
from ..labels import CERTIFICATE_SERIAL_ANNOTATION
from ..models.duration import format_duration
from ..models.lease import CertificateDeletionPolicy, CertificateSpec
from ..models.lease_status import CertificateRevocation, CertificateStatus
from ..models.shape import PathContext, secret_name, shape_secret
from ..models.status import Condition, ConditionStatus
from .schedule import certificate_renew_at, renew_before_too_long
from .worker import Worker

TLS = "kubernetes.io/tls"


def tls_data(certificate: IssuedCertificate, include_ca: bool) -> dict[str, str]:
    chain = [certificate.certificate.strip(), *(pem.strip() for pem in certificate.ca_chain)]
    data = {"tls.crt": "\n".join(chain) + "\n", "tls.key": certificate.private_key.strip() + "\n"}
    if include_ca:
        data["ca.crt"] = certificate.issuing_ca.strip() + "\n"
    return data


class CertificateWorker(Worker[CertificateSpec, CertificateStatus]):
    def held_id(self) -> str | None:
        return self.status.serial_number

    def _secret_name(self, spec: CertificateSpec) -> str:
        if spec.target is None or spec.target.name is None:
            return self.name
        target = spec.target.as_target().for_path(spec.path)
        return secret_name(target, PathContext(spec.path, spec.path))

    async def keep(
        self, spec: CertificateSpec, issuer: LeaseIssuer, now: datetime
    ) -> datetime | None:
        name = self._secret_name(spec)
        existing = await self.own_secret(name)
        status = self.status
        current = (
            existing is not None
            and status.serial_number is not None
            and existing.annotations.get(CERTIFICATE_SERIAL_ANNOTATION) == status.serial_number
            and status.observed_generation == self.resource.generation
        )
        due = None
        if current and status.issued_at is not None and status.not_after is not None:
            due = certificate_renew_at(status.issued_at, status.not_after, spec.renew_margin)
        if due is None or due <= now:
            await self._issue(spec, issuer, name, existing is not None, now)
            status = self.status
            assert status.issued_at is not None and status.not_after is not None
            due = certificate_renew_at(status.issued_at, status.not_after, spec.renew_margin)
        await self._revoke_due(spec, issuer, now)
        ready = self.ready(self.status, c.ISSUED, f"certificate for {spec.common_name} held", now)
        ready = await self._renew_before_applied(spec, ready, now)
        await self.save(ready.model_copy(update={"next_renewal_at": due}))
        self.metrics.next_renewal(due)
        return min([due, *(old.revoke_at for old in self.status.pending_revocations)])

    async def _renew_before_applied(
        self, spec: CertificateSpec, status: CertificateStatus, now: datetime
    ) -> CertificateStatus:
        """The status with the ``RenewBeforeApplied`` condition when ``renewBefore`` is
        too long for the lifetime granted (said once in a Warning event, when it becomes
        so), without it otherwise."""
        others = [x for x in status.conditions if x.type != c.RENEW_BEFORE_APPLIED]
        issued_at, not_after = status.issued_at, status.not_after
        assert issued_at is not None and not_after is not None
        if not renew_before_too_long(issued_at, not_after, spec.renew_margin):
            return status.model_copy(update={"conditions": others})
        lifetime = timedelta(seconds=round((not_after - issued_at).total_seconds()))
        message = (
            f"spec.renewBefore ({spec.renew_before}) leaves less than a third of the "
            f"{format_duration(lifetime)} lifetime the PKI granted (its role's max TTL or "
            "default TTL): the certificate is re-issued at two thirds of its lifetime instead"
        )
        before = next((x for x in status.conditions if x.type == c.RENEW_BEFORE_APPLIED), None)
        if before is None:
            await self.record(c.RENEW_BEFORE_TOO_LONG, message, warning=True)
        condition = Condition(
            type=c.RENEW_BEFORE_APPLIED,
            status=ConditionStatus.FALSE,
            reason=c.RENEW_BEFORE_TOO_LONG,
            message=message,
            last_transition_time=now if before is None else before.last_transition_time,
            observed_generation=self.resource.generation,
        )
        return status.model_copy(update={"conditions": [*others, condition]})

    async def _revoke_due(self, spec: CertificateSpec, issuer: LeaseIssuer, now: datetime) -> None:
        pending = self.status.pending_revocations
        due = [old for old in pending if old.revoke_at <= now]
        for old in due:
            await issuer.revoke_certificate(spec.mount, old.serial_number)
            await self.record(
                "Revoked", f"the replaced certificate {old.serial_number} was revoked"
            )
        if due:
            keep = [old for old in pending if old.revoke_at > now]
            await self.save(self.status.model_copy(update={"pending_revocations": keep}))

    async def _issue(
        self, spec: CertificateSpec, issuer: LeaseIssuer, name: str, replaces: bool, now: datetime
    ) -> None:
        existing = await self.own_secret(name)
        request = CertificateRequest(
            common_name=spec.common_name,
            alt_names=tuple(spec.alt_names or ()),
            ip_sans=tuple(spec.ip_sans or ()),
            ttl=spec.ttl_seconds,
        )
        target = spec.target.as_target() if spec.target else None
        resolved = target.for_path(spec.path) if target is not None else None
        labels: Mapping[str, str] = {}
        annotations: Mapping[str, str] = {}
        if resolved is not None:  # shaped first: a target that fails issues nothing
            shaped = shape_secret(resolved, {}, PathContext(spec.path, spec.path))
            labels, annotations = shaped.shape.labels, shaped.shape.annotations
        certificate = await issuer.issue_certificate(spec.path, request)
        # the status first: a certificate issued is tracked (for its revocation) before
        # anything else can fail
        replaced = self.status.serial_number
        rotated = replaced is not None
        pending = list(self.status.pending_revocations)
        if replaced is not None and spec.revokes:
            pending.append(
                CertificateRevocation(serial_number=replaced, revoke_at=now + spec.revoke_grace)
            )
        await self.save(
            self.status.model_copy(
                update={
                    "pending_revocations": pending,
                    "serial_number": certificate.serial_number,
                    "not_after": certificate.not_after,
                    "expires_at": certificate.not_after,
                    "issued_at": now,
                    "secret_name": name,
                    "rotations": self.status.rotations + rotated,
                    # a first Secret: the workloads start on it, nothing to restart
                    "restarted_for": (
                        certificate.serial_number if existing is None else self.status.restarted_for
                    ),
                }
            )
        )
        await self.deps.store.put_secret(
            self.namespace,
            name,
            secret_type=TLS,
            labels={**labels, **self.secret_labels()},
            annotations={**annotations, CERTIFICATE_SERIAL_ANNOTATION: certificate.serial_number},
            data={k: v.encode() for k, v in tls_data(certificate, spec.include_ca).items()},
            existing=existing,
        )
        self.metrics.expires(name, certificate.not_after)
        if rotated:
            self.metrics.rotated()
            await self.record("Rotated", f"certificate re-issued into Secret {name}")
        else:
            self.metrics.succeeded()
            await self.record("Issued", f"certificate written to Secret {name}")
        if replaces:
            self.changed(spec, name)

    async def release(self, spec: CertificateSpec | None, issuer: LeaseIssuer | None) -> None:
        status = self.resource.status if self.status.serial_number is None else self.status
        name = status.secret_name or self.name
        policy = spec.deletion_policy if spec is not None else CertificateDeletionPolicy.RETAIN
        revoked = spec is not None and spec.revokes and issuer is not None
        if spec is not None and issuer is not None:
            for old in status.pending_revocations:
                await issuer.revoke_certificate(spec.mount, old.serial_number)
            if revoked and status.serial_number:
                await issuer.revoke_certificate(spec.mount, status.serial_number)
                await self.record(
                    "Revoked",
                    f"certificate {status.serial_number} revoked: the resource is deleted",
                )
        existing = await self.deps.store.get_secret(self.namespace, name)
        if existing is None or not self.kind.owns(existing.labels, self.name):
            return
        if policy is CertificateDeletionPolicy.DELETE or revoked:
            await self.deps.store.delete_secret(self.namespace, name, existing.resource_version)
        else:
            await self.deps.store.release_secret(self.namespace, name, self.kind.secret_label)
