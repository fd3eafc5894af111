"""``/v1/federation/leases`` and ``/v1/federation/certificates``: the read-only listings of
FederationLeases and FederationCertificates with their expiry, over the real
apiserver; a caller sees only the namespaces they may read each kind in, and no
lease id ever."""

from __future__ import annotations

import contextlib
from typing import Any

from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import GROUP, VERSION

from .conftest import RESTRICTED_NAMESPACE, Namespace, Tokens
from .helpers import FED, ApiClient, eventually, service_account_token, vault_body

ADDRESS = "http://127.0.0.1:1"  # never contacted
LEASE_ID = "database/creds/app/lease-id-canary-5c1e"
EXPIRES = "2031-05-04T03:02:01Z"
RENEWS = "2031-05-04T01:02:01Z"


def collection(namespace: str, plural: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"


async def make(
    kube: KubeClient, namespace: str, kind: str, spec: dict[str, Any], status: dict[str, Any]
) -> None:
    """The object, then its status as the leasing runtime would write it."""
    plural = kind.lower() + "s"
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "one"}}
    await kube.post(collection(namespace, plural), {**body, "spec": spec})
    await kube.merge_patch(f"{collection(namespace, plural)}/one/status", {"status": status})


async def remove(kube: KubeClient, namespace: str) -> None:
    for plural in ("federationleases", "federationcertificates"):
        with contextlib.suppress(NotFoundError):
            await kube.delete(f"{collection(namespace, plural)}/one")


async def test_both_kinds_are_listed_with_their_expiry_and_no_lease_id(
    api: ApiClient, ns: Namespace
) -> None:
    backend = await api.post(
        f"{FED}/backends", json=vault_body("vault", ADDRESS, "x", namespace=ns.name)
    )
    assert backend.status == 201, backend.body
    status = {"secretName": "db-creds", "expiresAt": EXPIRES, "nextRenewalAt": RENEWS}
    try:
        await make(
            ns.kube,
            ns.name,
            "FederationLease",
            {"backendRef": "vault", "path": "database/creds/app"},
            {**status, "leaseId": LEASE_ID, "renewals": 3, "renewable": True},
        )
        await make(
            ns.kube,
            ns.name,
            "FederationCertificate",
            {"backendRef": "vault", "path": "pki/issue/web", "commonName": "web.example"},
            {**status, "secretName": "web-tls", "serialNumber": "1a:2b", "notAfter": EXPIRES},
        )

        async def listed(plural: str) -> dict[str, Any] | None:
            reply = await api.get(f"{FED}/{plural}", params={"namespace": ns.name})
            assert reply.status == 200, reply.body
            (one,) = reply.body[plural]
            return one if one["expires_at"] is not None else None

        lease = await eventually(lambda: listed("leases"), what="the lease's status")
        assert lease["namespace"] == ns.name and lease["name"] == "one"
        assert lease["backend_ref"] == "vault" and lease["path"] == "database/creds/app"
        assert lease["secret_name"] == "db-creds" and lease["renewals"] == 3
        assert lease["expires_at"] == EXPIRES and lease["next_renewal_at"] == RENEWS
        certificate = await eventually(lambda: listed("certificates"), what="the status")
        assert certificate["common_name"] == "web.example"
        assert certificate["serial_number"] == "1a:2b" and certificate["expires_at"] == EXPIRES
        assert certificate["secret_name"] == "web-tls"

        # without a namespace: every namespace the caller may read (this one has a backend)
        everywhere = await api.get(f"{FED}/leases")
        assert lease["name"] in [
            one["name"] for one in everywhere.body["leases"] if one["namespace"] == ns.name
        ]
        for reply in api.replies:
            assert LEASE_ID not in reply.raw.decode()
    finally:
        await remove(ns.kube, ns.name)


async def test_a_caller_sees_only_what_it_may_read(
    api: ApiClient, ns: Namespace, tok: Tokens
) -> None:
    backend = await api.post(
        f"{FED}/backends", json=vault_body("vault", ADDRESS, "x", namespace=ns.name)
    )
    assert backend.status == 201, backend.body
    spec = {"backendRef": "vault", "path": "database/creds/app"}
    try:
        await make(ns.kube, ns.name, "FederationLease", spec, {"expiresAt": EXPIRES})

        # a token limited to another namespace: not this one's, asked or not
        restricted = api.with_token(tok.restricted)
        assert (await restricted.get(f"{FED}/leases", params={"namespace": ns.name})).status == 403
        # (403 while its namespace holds no backend: then it may read none listed)
        every = await restricted.get(f"{FED}/leases")
        assert every.status in (200, 403) and ns.name not in every.raw.decode()
        if every.status == 200:
            assert {one["namespace"] for one in every.body["leases"]} <= {RESTRICTED_NAMESPACE}

        # a Kubernetes token allowed leases (not certificates) in this namespace only
        leases_only = api.with_token(
            await service_account_token(
                ns.kube, ns.name, {(GROUP, "federationleases"): ["get", "list"]}
            )
        )
        mine = await leases_only.get(f"{FED}/leases")
        assert mine.status == 200 and [
            (o["namespace"], o["name"]) for o in mine.body["leases"]
        ] == [(ns.name, "one")]
        assert (await leases_only.get(f"{FED}/certificates")).status == 403
        refused = await leases_only.get(f"{FED}/certificates", params={"namespace": ns.name})
        assert refused.status == 403
        assert (await leases_only.get(f"{FED}/leases", params={"namespace": "a/b"})).status == 400
        assert (await api.with_token(None).get(f"{FED}/leases")).status == 401
    finally:
        await remove(ns.kube, ns.name)
