"""What only Vault does, end to end (the scenarios every type shares are in
``test_sync_common.py``): an AppRole login, against a real OpenBao server."""

from __future__ import annotations

import uuid

import pytest

from scaivault_devenv.openbao import OpenBaoServer

from .helpers import Cluster, decoded
from .test_sync_common import healthy

pytestmark = pytest.mark.e2e


async def test_approle_auth_syncs(cluster: Cluster, openbao: OpenBaoServer) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    openbao.request("POST", f"/v1/secret/data/{prefix}/cfg", {"data": {"mode": "approle"}})
    mount = f"approle-{prefix}"
    openbao.enable_approle(mount)
    policy = 'path "secret/*" { capabilities = ["read", "list"] }'
    openbao.request("PUT", f"/v1/sys/policies/acl/{prefix}", {"policy": policy})
    openbao.request("POST", f"/v1/auth/{mount}/role/sync", {"token_policies": [prefix]})
    role_id = openbao.request("GET", f"/v1/auth/{mount}/role/sync/role-id")["data"]["role_id"]
    secret_id = openbao.request("POST", f"/v1/auth/{mount}/role/sync/secret-id")["data"][
        "secret_id"
    ]
    await cluster.put_credentials("infra-approle", {"role_id": role_id, "secret_id": secret_id})
    await cluster.create_backend(
        "vault-approle",
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "approle",
                "authMount": mount,
                "authConfigPath": "infra/approle",
            },
            "pathMapping": {"team/*": f"secret/data/{prefix}/*"},
            "mode": "sync",
            "syncInterval": "1m",
        },
    )
    status = await cluster.wait_status("vault-approle", healthy)
    assert status["secretsSynced"] == 1
    secret = await cluster.secret("team-cfg")
    assert secret is not None and decoded(secret) == {"mode": "approle"}
