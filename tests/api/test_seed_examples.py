"""The two example bodies of the seed page, through POST, and then for real."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

import pytest

from scaivault_devenv.moto import MotoServer
from scaivault_devenv.openbao import OpenBaoError, OpenBaoServer
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.labels import credentials_labels
from tests.e2e.helpers import API

from .conftest import API_NAMESPACE, Namespace
from .helpers import FED, ApiClient, eventually

pytestmark = pytest.mark.e2e

# Verbatim from seed/federation-api.md.
HASHICORP_EXAMPLE: dict[str, Any] = json.loads("""
{
  "name": "hashicorp-production",
  "type": "hashicorp-vault",
  "config": {
    "endpoint": "https://vault.internal:8200",
    "auth_method": "approle",
    "auth_config_path": "infra/hashicorp/approle-creds",
    "tls_verify": true
  },
  "path_mapping": {
    "external/hashicorp/**": "secret/data/**"
  },
  "mode": "proxy"
}
""")
AWS_EXAMPLE: dict[str, Any] = json.loads("""
{
  "name": "aws-prod",
  "type": "aws-secrets-manager",
  "config": {
    "region": "us-east-1",
    "credentials_path": "infra/aws/sm/reader"
  },
  "path_mapping": {
    "external/aws/**": "prod/**"
  },
  "mode": "sync",
  "sync_interval": "15m"
}
""")
DEFAULTS = {"conflict_policy": "report", "deletion_policy": "Retain", "prune": False}


def secret(name: str, values: dict[str, str]) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    metadata = {"name": name, "labels": credentials_labels()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": data}


def healthy(reply: Any) -> Any:
    return reply if reply.body.get("status") == "healthy" else None


async def test_both_examples_are_accepted_verbatim(api: ApiClient, kube: KubeClient) -> None:
    # No credentials Secrets exist in the default namespace, so nothing is contacted.
    for example, spec in (
        (
            HASHICORP_EXAMPLE,
            {
                "type": "hashicorp-vault",
                "config": {
                    "endpoint": "https://vault.internal:8200",
                    "authMethod": "approle",
                    "authConfigPath": "infra/hashicorp/approle-creds",
                    "tlsVerify": True,
                },
                "pathMapping": {"external/hashicorp/**": "secret/data/**"},
                "mode": "proxy",
            },
        ),
        (
            AWS_EXAMPLE,
            {
                "type": "aws-secrets-manager",
                "config": {"region": "us-east-1", "credentialsPath": "infra/aws/sm/reader"},
                "pathMapping": {"external/aws/**": "prod/**"},
                "mode": "sync",
                "syncInterval": "15m",
            },
        ),
    ):
        reply = await api.post(f"{FED}/backends", json=example)
        assert reply.status == 201, reply.body
        created, name = reply.body, example["name"]
        assert created["namespace"] == API_NAMESPACE
        assert {k: created[k] for k in example} == example
        assert created["suspend"] is False
        cr = await api.get(f"{FED}/backends/{created['id']}")
        assert cr.body == created
        stored = await kube.get(f"{API}/namespaces/{API_NAMESPACE}/federationbackends/{name}")
        assert {k: stored["spec"][k] for k in spec} == spec
        assert (await api.delete(f"{FED}/backends/{created['id']}")).status == 204


async def test_hashicorp_example_becomes_healthy_and_proxies_with_approle(
    api: ApiClient, ns: Namespace, openbao: OpenBaoServer, operator: ManagedProcess
) -> None:
    prefix = f"seed-{uuid.uuid4().hex[:8]}"
    try:
        openbao.enable_approle("approle")
    except OpenBaoError as exc:
        assert "already in use" in str(exc)
    policy = f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}'
    openbao.request("PUT", f"/v1/sys/policies/acl/{prefix}", {"policy": policy})
    openbao.request("POST", f"/v1/auth/approle/role/{prefix}", {"token_policies": [prefix]})
    role = openbao.request("GET", f"/v1/auth/approle/role/{prefix}/role-id")["data"]["role_id"]
    secret_id = openbao.request("POST", f"/v1/auth/approle/role/{prefix}/secret-id")["data"][
        "secret_id"
    ]
    await ns.kube.post(
        ns.secrets(),
        secret("infra-hashicorp-approle-creds", {"role_id": role, "secret_id": secret_id}),
    )
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "v1"}})

    body = copy.deepcopy(HASHICORP_EXAMPLE)
    body["config"]["endpoint"] = openbao.address
    body["namespace"] = ns.name
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    ident = reply.body["id"]

    async def probe() -> Any:
        return healthy(await api.get(f"{FED}/backends/{ident}/status"))

    status = await eventually(probe, timeout=60, what="hashicorp-production to be healthy")
    assert status.body["name"] == "hashicorp-production"
    assert status.body["connection"]["status"] == "connected"
    assert status.body["connection"]["latency_ms"] >= 1

    url, params = f"/v1/secrets/external/hashicorp/{prefix}/db", {"namespace": ns.name}
    got = await api.get(url, params=params)
    assert got.status == 200, got.body
    assert got.body == {
        "path": f"external/hashicorp/{prefix}/db",
        "data": {"password": "v1"},
        "source": "proxy",
        "backend_id": ident,
    }
    openbao.request("POST", f"/v1/secret/data/{prefix}/db", {"data": {"password": "v2"}})
    assert (await api.get(url, params=params)).body["data"] == {"password": "v2"}
    refused = await api.put(url, params=params, json={"data": {"password": "mine"}})
    assert refused.status == 409 and refused.error["code"] == "proxied_path"
    sync = await api.post(f"{FED}/backends/{ident}/sync")
    assert sync.status == 409


async def test_aws_example_syncs_from_moto(
    api: ApiClient, ns: Namespace, moto_server: MotoServer, operator: ManagedProcess
) -> None:
    prefix = f"seed-{uuid.uuid4().hex[:8]}"
    admin = moto_server.client("secretsmanager")
    admin.create_secret(Name=f"prod/{prefix}/db", SecretString='{"password": "aws-pw"}')
    admin.create_secret(Name=f"prod/{prefix}/api-key", SecretString="plain-key")
    await ns.kube.post(
        ns.secrets(),
        secret(
            "infra-aws-sm-reader",
            {
                "access_key_id": moto_server.access_key_id,
                "secret_access_key": moto_server.secret_access_key,
            },
        ),
    )
    body = copy.deepcopy(AWS_EXAMPLE)
    body["config"]["endpoint"] = moto_server.endpoint
    body["namespace"] = ns.name
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    ident = reply.body["id"]

    async def probe() -> Any:
        return healthy(await api.get(f"{FED}/backends/{ident}/status"))

    status = await eventually(probe, timeout=60, what="aws-prod to be healthy")
    assert status.body["secrets_synced"] >= 2
    assert status.body["last_sync"] is not None
    params = {"namespace": ns.name}
    got = await api.get(f"/v1/secrets/external/aws/{prefix}/db", params=params)
    assert got.status == 200, got.body
    assert got.body["source"] == "sync" and got.body["backend_id"] == ident
    assert got.body["data"] == {"password": "aws-pw"}
    plain = await api.get(f"/v1/secrets/external/aws/{prefix}/api-key", params=params)
    assert plain.body["data"] == {"value": "plain-key"}

    admin.put_secret_value(SecretId=f"prod/{prefix}/db", SecretString='{"password": "new"}')
    accepted = await api.post(f"{FED}/backends/{ident}/sync")
    assert accepted.status == 202

    async def resynced() -> Any:
        reply = await api.get(f"/v1/secrets/external/aws/{prefix}/db", params=params)
        return reply if reply.body["data"] == {"password": "new"} else None

    await eventually(resynced, timeout=60, what="the manual sync to pick up the change")
