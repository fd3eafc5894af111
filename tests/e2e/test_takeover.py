"""``conflictPolicy: overwrite`` takes over only Secrets that opt in, and never one of a
built-in credential type: whoever may write a FederationBackend but not Secrets
cannot aim a backend (a name template, a mapping) at a Secret they do not own
and have it replaced, re-typed or deleted."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from scaivault_devenv.openbao import OpenBaoServer

from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

OPT_IN = {"federation.scaivault.io/allow-overwrite": "true"}
DOCKER_CONFIG = '{"auths": {"registry.example.com": {"auth": "aGFuZDptYWRl"}}}'


async def make_secret(
    cluster: Cluster,
    name: str,
    data: dict[str, str],
    *,
    kind: str = "Opaque",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": {
            "name": name,
            "labels": {"team": "theirs", **(labels or {})},
            "annotations": {"example.com/owner": "someone-else", **(annotations or {})},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    return await cluster.kube.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", body)


def fingerprint(secret: dict[str, Any] | None) -> tuple[Any, ...]:
    """What must not change of a Secret the backend does not own."""
    assert secret is not None
    meta = secret["metadata"]
    return (
        secret.get("data"),
        secret.get("type"),
        meta.get("labels"),
        meta.get("annotations"),
        meta["resourceVersion"],
        meta["uid"],
    )


async def test_overwrite_leaves_secrets_it_does_not_own_byte_equal(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"takeover-{uuid.uuid4().hex[:8]}"
    for item in ("web", "registry", "token", "opted", "fresh"):
        openbao.request(
            "POST", f"/v1/secret/data/{prefix}/{item}", {"data": {"password": f"remote-{item}"}}
        )
    await cluster.put_secret(
        "creds-vault",
        {"token": openbao.root_token},
        labels={"federation.scaivault.io/credentials": "true"},
    )
    await cluster.kube.post(
        f"/api/v1/namespaces/{cluster.namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer"}},
    )
    # the name template below aims each path at one of these
    victims = [
        await make_secret(cluster, "web-target", {"password": "hand-made"}),
        # a built-in credential type is never taken over, even opted in
        await make_secret(
            cluster,
            "registry-target",
            {".dockerconfigjson": DOCKER_CONFIG},
            kind="kubernetes.io/dockerconfigjson",
            labels=OPT_IN,
        ),
        await make_secret(
            cluster,
            "token-target",
            {"token": "issued-by-kubernetes"},
            kind="kubernetes.io/service-account-token",
            labels=OPT_IN,
            annotations={"kubernetes.io/service-account.name": "deployer"},
        ),
    ]
    before = {v["metadata"]["name"]: fingerprint(v) for v in victims}
    await make_secret(cluster, "opted-target", {"password": "replace-me"}, labels=OPT_IN)

    await cluster.create_backend(
        "aimed",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"t/*": f"secret/data/{prefix}/*"},
            "target": {"name": "{{ captures[0] }}-target"},
            "mode": "sync",
            "syncInterval": "10m",
            "conflictPolicy": "overwrite",
            "prune": True,
            "deletionPolicy": "Delete",
        },
    )
    status = await cluster.wait_status("aimed", lambda s: s.get("conflictCount") == 3)
    assert {c["path"]: c["reason"] for c in status["conflicts"]} == {
        "t/web": "UnmanagedSecretNotOptedIn",
        "t/registry": "UnmanagedSecretNotOptedIn",
        "t/token": "UnmanagedSecretNotOptedIn",
    }
    assert status["secretsSynced"] == 2, status  # opted and fresh
    status = await cluster.sync_now("aimed")
    assert status["conflictCount"] == 3
    for name, fingerprinted in before.items():
        assert fingerprint(await cluster.secret(name)) == fingerprinted, name

    opted = await cluster.secret("opted-target")
    assert opted is not None and decoded(opted) == {"password": "remote-opted"}
    assert opted["metadata"]["labels"]["federation.scaivault.io/backend"] == "aimed"
    assert opted["metadata"]["labels"]["team"] == "theirs"  # its own labels stay

    # gone from the backend and the backend deleted (prune, deletionPolicy: Delete):
    # only what it wrote goes
    for item in ("web", "registry", "token"):
        openbao.request("DELETE", f"/v1/secret/metadata/{prefix}/{item}")
    await cluster.sync_now("aimed")
    await cluster.kube.delete(cluster.backend_url("aimed"))

    async def deleted() -> bool:
        return (await cluster.secret("fresh-target")) is None

    await eventually(deleted, 30, "the backend's own Secrets to be deleted")
    for name, fingerprinted in before.items():
        assert fingerprint(await cluster.secret(name)) == fingerprinted, name
