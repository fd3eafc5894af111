"""A Vault token the operator got by logging in is revoked when its client goes:
after the backend's spec changes (a new client logs in) and after the backend
is deleted, the old token no longer works against OpenBao."""

from __future__ import annotations

import uuid

import pytest

from scaivault_devenv.openbao import OpenBaoError, OpenBaoServer
from tests.vault_auth_setup import reader_policy

from .helpers import Cluster, eventually

pytestmark = pytest.mark.e2e


def login_accessors(bao: OpenBaoServer, mount: str) -> set[str]:
    """Accessors of the live tokens made by logins at ``auth/<mount>/login``."""
    listed = bao.request("LIST", "/v1/auth/token/accessors")["data"]["keys"]
    found = set()
    for accessor in listed:
        try:
            info = bao.request("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})
        except OpenBaoError:
            continue  # revoked meanwhile
        if info["data"].get("path") == f"auth/{mount}/login":
            found.add(accessor)
    return found


def alive(bao: OpenBaoServer, accessor: str) -> bool:
    try:
        bao.request("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})
    except OpenBaoError:
        return False
    return True


async def test_approle_tokens_are_revoked_on_spec_change_and_deletion(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"revoke-{uuid.uuid4().hex[:8]}"
    mount = f"approle-{prefix}"
    openbao.enable_approle(mount)
    policy = reader_policy(openbao, mount, prefix)
    openbao.request("POST", f"/v1/auth/{mount}/role/sync", {"token_policies": [policy]})
    role_id = openbao.request("GET", f"/v1/auth/{mount}/role/sync/role-id")["data"]["role_id"]
    secret_id = openbao.request("POST", f"/v1/auth/{mount}/role/sync/secret-id")["data"][
        "secret_id"
    ]
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"pw": "x"}})
    await cluster.put_credentials("vault-approle", {"role_id": role_id, "secret_id": secret_id})
    spec = {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "authMethod": "approle",
            "authMount": mount,
            "authConfigPath": "vault/approle",
        },
        "pathMapping": {"r/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
    }
    await cluster.create_backend("approle", spec)
    await cluster.wait_status("approle", lambda s: s.get("status") == "healthy")
    first = login_accessors(openbao, mount)
    assert len(first) == 1

    await cluster.kube.merge_patch(
        cluster.backend_url("approle"), {"spec": {"syncInterval": "11m"}}
    )
    await cluster.wait_status(
        "approle", lambda s: s.get("observedGeneration") == 2 and s.get("status") == "healthy"
    )
    await eventually(
        lambda: _true(not any(alive(openbao, a) for a in first)),
        timeout=10,
        what="the first login token to be revoked",
    )
    second = login_accessors(openbao, mount)
    assert len(second) == 1 and not second & first

    await cluster.kube.delete(cluster.backend_url("approle"))
    await eventually(
        lambda: _true(not any(alive(openbao, a) for a in second)),
        timeout=20,
        what="the second login token to be revoked after deletion",
    )


async def _true(value: bool) -> bool:
    return value
