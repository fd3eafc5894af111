"""Every Vault auth method OpenBao can check, through the running operator: a backend
syncs with good credentials; switched to wrong ones it reports ``error`` with reason
``AuthenticationFailed`` and leaves the Secrets of the good sync exactly as they were."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from tests.vault_auth_setup import (
    ROLE,
    configure_cert_auth,
    configure_jwt_auth,
    configure_userpass,
    make_ca,
    reader_policy,
)
from tests.vault_kubernetes import ROLE as K8S_ROLE
from tests.vault_kubernetes import configure_kubernetes_auth, create_service_account

from .helpers import Cluster, decoded

pytestmark = pytest.mark.e2e

SELECTOR = "federation.scaivault.io/backend={name}"


@dataclass
class Case:
    """A backend config that logs in, and the config change that makes it log in wrongly."""

    server: OpenBaoServer
    config: dict[str, Any]
    wrong: dict[str, Any]
    #: credential text that must never show up in the status
    secrets: tuple[str, ...] = ()


Setup = Callable[[Cluster, OpenBaoServer, OpenBaoServer, ControlPlane, str], Awaitable[Case]]


async def token_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    policy = reader_policy(bao, f"e2e-token-{prefix}", prefix)
    made = bao.request("POST", "/v1/auth/token/create", {"policies": [policy], "ttl": "1h"})
    token = made["auth"]["client_token"]
    wrong = "s.wrong-token-" + uuid.uuid4().hex
    await cluster.put_credentials("vault-token", {"token": token})
    await cluster.put_credentials("vault-wrong", {"token": wrong})
    config = {"authMethod": "token", "authConfigPath": "vault/token"}
    return Case(bao, config, {"authConfigPath": "vault/wrong"}, (token, wrong))


async def approle_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    mount = f"approle-{prefix}"
    bao.enable_approle(mount)
    policy = reader_policy(bao, mount, prefix)
    bao.request("POST", f"/v1/auth/{mount}/role/sync", {"token_policies": [policy]})
    role_id = bao.request("GET", f"/v1/auth/{mount}/role/sync/role-id")["data"]["role_id"]
    secret_id = bao.request("POST", f"/v1/auth/{mount}/role/sync/secret-id")["data"]["secret_id"]
    wrong = str(uuid.uuid4())
    await cluster.put_credentials("vault-approle", {"role_id": role_id, "secret_id": secret_id})
    await cluster.put_credentials("vault-wrong", {"role_id": role_id, "secret_id": wrong})
    config = {"authMethod": "approle", "authMount": mount, "authConfigPath": "vault/approle"}
    return Case(bao, config, {"authConfigPath": "vault/wrong"}, (secret_id, wrong))


async def userpass_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    user = configure_userpass(bao, prefix)
    wrong = "wrong-" + uuid.uuid4().hex
    await cluster.put_credentials(
        "vault-user", {"username": user.username, "password": user.password}
    )
    await cluster.put_credentials("vault-wrong", {"username": user.username, "password": wrong})
    config = {"authMethod": "userpass", "authMount": user.mount, "authConfigPath": "vault/user"}
    return Case(bao, config, {"authConfigPath": "vault/wrong"}, (user.password, wrong))


async def kubernetes_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    mount = configure_kubernetes_auth(bao, cp, cluster.namespace, "app-reader", prefix)
    create_service_account(cp, cluster.namespace, "app-reader", token_for="*")
    create_service_account(cp, cluster.namespace, "stranger", token_for="*")
    config = {
        "authMethod": "kubernetes",
        "authMount": mount,
        "role": K8S_ROLE,
        "serviceAccount": "app-reader",
    }
    return Case(bao, config, {"serviceAccount": "stranger"})


async def jwt_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    audience = f"vault-{prefix}"
    create_service_account(cp, cluster.namespace, "jwt-reader", token_for="*")
    mount = configure_jwt_auth(bao, cp, cluster.namespace, "jwt-reader", audience, prefix)
    config = {
        "authMethod": "jwt",
        "authMount": mount,
        "role": ROLE,
        "serviceAccount": "jwt-reader",
        "audience": audience,
    }
    return Case(bao, config, {"audience": "somebody-else"})


async def cert_case(
    cluster: Cluster, bao: OpenBaoServer, tls: OpenBaoServer, cp: ControlPlane, prefix: str
) -> Case:
    clients = make_ca(f"clients {prefix}")
    mount = configure_cert_auth(tls, clients, prefix)
    cert, key = clients.issue_client("scaivault-federation")
    stray_cert, stray_key = make_ca("someone else").issue_client("scaivault-federation")
    assert tls.ca_file is not None
    await cluster.put_credentials("vault-ca", {"ca.crt": tls.ca_file.read_text()})
    await cluster.put_credentials("vault-tls", {"tls.crt": cert.decode(), "tls.key": key.decode()})
    await cluster.put_credentials(
        "vault-wrong", {"tls.crt": stray_cert.decode(), "tls.key": stray_key.decode()}
    )
    config = {
        "authMethod": "cert",
        "authMount": mount,
        "role": ROLE,
        "authConfigPath": "vault/tls",
        "caCertPath": "vault/ca",
    }
    return Case(tls, config, {"authConfigPath": "vault/wrong"}, (key.decode(), stray_key.decode()))


CASES: dict[str, Setup] = {
    "token": token_case,
    "approle": approle_case,
    "userpass": userpass_case,
    "kubernetes": kubernetes_case,
    "jwt": jwt_case,
    "cert": cert_case,
}


def snapshot(secrets: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (resourceVersion, data as stored, base64)."""
    return {
        s["metadata"]["name"]: (s["metadata"]["resourceVersion"], dict(s.get("data") or {}))
        for s in secrets
    }


@pytest.mark.parametrize("method", list(CASES))
async def test_auth_method_syncs_and_wrong_credentials_touch_nothing(
    method: str,
    cluster: Cluster,
    openbao: OpenBaoServer,
    openbao_tls: OpenBaoServer,
    control_plane: ControlPlane,
) -> None:
    prefix = f"{method}-{uuid.uuid4().hex[:8]}"
    case = await CASES[method](cluster, openbao, openbao_tls, control_plane, prefix)
    canary = f"{method}-value-{uuid.uuid4().hex}"
    for path, data in {"db": {"password": canary}, "nested/api": {"key": "k-1"}}.items():
        case.server.request("POST", f"/v1/secret/data/{prefix}/{path}", {"data": data})
    name = f"vault-{method}"
    await cluster.create_backend(
        name,
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": case.server.address, **case.config},
            "pathMapping": {"auth/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )
    status = await cluster.wait_status(
        name, lambda s: s.get("status") == "healthy" and s.get("secretsSynced") == 2
    )
    db = await cluster.secret("auth-db")
    assert db is not None and decoded(db) == {"password": canary}
    before = snapshot(await cluster.secrets(SELECTOR.format(name=name)))
    assert sorted(before) == ["auth-db", "auth-nested-api"]

    cr = await cluster.get_backend(name)
    await cluster.kube.merge_patch(cluster.backend_url(name), {"spec": {"config": case.wrong}})
    generation = cr["metadata"]["generation"] + 1
    status = await cluster.wait_status(
        name,
        lambda s: s.get("status") == "error" and s.get("observedGeneration") == generation,
    )

    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed", ready
    assert snapshot(await cluster.secrets(SELECTOR.format(name=name))) == before
    shown = str(status)
    for value in (canary, *case.secrets):
        assert value not in shown
