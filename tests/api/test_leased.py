"""``/v1/federation/leases`` and ``/v1/federation/certificates``: the read-only listings of
FederationLeases and FederationCertificates, over the real apiserver: each object
as its view shows what the apiserver holds (the session's operator may be writing
their status meanwhile), a caller sees only the namespaces they may read each kind
in, and no lease id ever. How a status becomes a view: ``tests/unit/test_leased_view.py``."""

from __future__ import annotations

import contextlib
from typing import Any

from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import GROUP, VERSION
from scaivault_federation.models.leased import FEDERATION_CERTIFICATE, FEDERATION_LEASE
from scaivault_federation.models.leased_view import certificate_view, lease_view

from .conftest import RESTRICTED_NAMESPACE, Namespace, Tokens
from .helpers import FED, ApiClient, eventually, service_account_token, vault_body

ADDRESS = "http://127.0.0.1:1"  # never contacted
LEASE_ID = "database/creds/app/lease-id-canary-5c1e"
EXPIRES = "2031-05-04T03:02:01Z"
LEASE_SPEC = {"backendRef": "vault", "path": "database/creds/app"}
CERTIFICATE_SPEC = {"backendRef": "vault", "path": "pki/issue/web", "commonName": "web.example"}


def collection(namespace: str, plural: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"


async def make(
    kube: KubeClient, namespace: str, kind: str, spec: dict[str, Any], status: dict[str, Any]
) -> None:
    """The object, then a status as the leasing runtime writes one."""
    plural = kind.lower() + "s"
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "one"}}
    await kube.post(collection(namespace, plural), {**body, "spec": spec})
    await kube.merge_patch(f"{collection(namespace, plural)}/one/status", {"status": status})


async def remove(kube: KubeClient, namespace: str) -> None:
    for plural in ("federationleases", "federationcertificates"):
        with contextlib.suppress(NotFoundError):
            await kube.delete(f"{collection(namespace, plural)}/one")


async def test_both_kinds_are_listed_as_the_apiserver_holds_them_and_no_lease_id(
    api: ApiClient, ns: Namespace
) -> None:
    body = vault_body("vault", ADDRESS, "x", namespace=ns.name)
    assert (await api.post(f"{FED}/backends", json=body)).status == 201
    status = {"secretName": "db-creds", "expiresAt": EXPIRES}
    try:
        await make(ns.kube, ns.name, "FederationLease", LEASE_SPEC, {**status, "leaseId": LEASE_ID})
        await make(
            ns.kube,
            ns.name,
            "FederationCertificate",
            CERTIFICATE_SPEC,
            {**status, "serialNumber": "1a:2b", "notAfter": EXPIRES},
        )
        for plural, kind, view in (
            ("leases", FEDERATION_LEASE, lease_view),
            ("certificates", FEDERATION_CERTIFICATE, certificate_view),
        ):

            async def same(
                plural: str = plural, kind: Any = kind, view: Any = view
            ) -> list[Any] | None:
                reply = await api.get(f"{FED}/{plural}", params={"namespace": ns.name})
                assert reply.status == 200, reply.body
                held = await ns.kube.get(collection(ns.name, kind.plural))
                expected = [view(kind.parse(obj)) for obj in held["items"]]
                return expected if reply.body == {plural: expected} else None

            (one,) = await eventually(same, what=f"the {plural} as the apiserver holds them")
            assert (one["namespace"], one["name"], one["backend_ref"]) == (ns.name, "one", "vault")
        everywhere = await api.get(f"{FED}/leases")  # every namespace it may read
        assert (ns.name, "one") in {(o["namespace"], o["name"]) for o in everywhere.body["leases"]}
        for reply in api.replies:
            assert LEASE_ID not in reply.raw.decode()
    finally:
        await remove(ns.kube, ns.name)


async def test_a_caller_sees_only_what_it_may_read(
    api: ApiClient, ns: Namespace, tok: Tokens
) -> None:
    body = vault_body("vault", ADDRESS, "x", namespace=ns.name)
    assert (await api.post(f"{FED}/backends", json=body)).status == 201
    try:
        await make(ns.kube, ns.name, "FederationLease", LEASE_SPEC, {"expiresAt": EXPIRES})

        # a token limited to another namespace: not this one's, asked or not (403 while
        # its own namespace holds no backend: then it may read none of those listed)
        restricted = api.with_token(tok.restricted)
        assert (await restricted.get(f"{FED}/leases", params={"namespace": ns.name})).status == 403
        every = await restricted.get(f"{FED}/leases")
        assert every.status in (200, 403) and ns.name not in every.raw.decode()
        if every.status == 200:
            assert {one["namespace"] for one in every.body["leases"]} <= {RESTRICTED_NAMESPACE}

        # a Kubernetes token allowed leases (not certificates) in this namespace only
        token = await service_account_token(
            ns.kube, ns.name, {(GROUP, "federationleases"): ["get", "list"]}
        )
        leases_only = api.with_token(token)
        mine = await leases_only.get(f"{FED}/leases")
        assert mine.status == 200, mine.body
        assert [(o["namespace"], o["name"]) for o in mine.body["leases"]] == [(ns.name, "one")]
        assert (await leases_only.get(f"{FED}/certificates")).status == 403
        refused = await leases_only.get(f"{FED}/certificates", params={"namespace": ns.name})
        assert refused.status == 403
        assert (await leases_only.get(f"{FED}/leases", params={"namespace": "a/b"})).status == 400
        assert (await api.with_token(None).get(f"{FED}/leases")).status == 401
    finally:
        await remove(ns.kube, ns.name)
