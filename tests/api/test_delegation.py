"""A backend written through the API uses only what its author could use by hand: the
credentials Secret its config names (``get`` on it), the ServiceAccount whose
tokens Vault kubernetes/jwt auth or a keyless cloud login requests (``create
serviceaccounts/token`` for it), and ``conflict_policy: overwrite``
(``secrets:write``), each checked with a SubjectAccessReview of the caller at the
real apiserver, or against a static token's scopes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ..conftest import OPERATOR_NAMESPACE
from .conftest import RESTRICTED_NAMESPACE, Namespace, Tokens
from .helpers import FED, ApiClient, cluster_role_token, service_account_token, vault_body
from .test_cluster_backends import cluster_body

pytestmark = pytest.mark.e2e

ADDRESS = "http://127.0.0.1:1"
FEDB = ("federation.scaivault.io", "federationbackends")
CFEDB = ("federation.scaivault.io", "clusterfederationbackends")
SECRETS = ("", "secrets")
TOKENS = ("", "serviceaccounts/token")
WRITER = {FEDB: ["get", "list", "create", "patch", "delete"]}
CREDENTIALS = "creds-vault-token"  # the Secret of vault_body's creds/vault-token


def name() -> str:
    return f"d-{uuid.uuid4().hex[:6]}"


def with_credentials(namespace: str, **extra: Any) -> dict[str, Any]:
    return vault_body(name(), ADDRESS, "p", namespace=namespace, suspend=True, **extra)


def kubernetes_auth(namespace: str, account: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"endpoint": ADDRESS, "auth_method": "kubernetes", "role": "app"}
    if account is not None:
        config["service_account"] = account
    return {
        "name": name(),
        "namespace": namespace,
        "type": "hashicorp-vault",
        "config": config,
        "path_mapping": {"k8s/**": "secret/data/k8s/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "suspend": True,
    }


def without_credentials(namespace: str, **extra: Any) -> dict[str, Any]:
    """A backend that names no Secret and no ServiceAccount."""
    return {
        "name": name(),
        "namespace": namespace,
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-1"},
        "path_mapping": {"aws/**": "app/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "suspend": True,
        **extra,
    }


async def token(ns: Namespace, verbs: dict[tuple[str, str], list[str]], **names: list[str]) -> str:
    limited = {SECRETS: names["secrets"]} if "secrets" in names else {}
    if "accounts" in names:
        limited[TOKENS] = names["accounts"]
    return await service_account_token(ns.kube, ns.name, verbs, limited)


async def test_a_credentials_secret_needs_get_on_that_secret(api: ApiClient, ns: Namespace) -> None:
    writer = api.with_token(await token(ns, WRITER))
    refused = await writer.post(f"{FED}/backends", json=with_credentials(ns.name))
    assert refused.status == 403, refused.body
    assert refused.error["field"] == "config.auth_config_path"
    assert CREDENTIALS in refused.error["message"] and ns.name in refused.error["message"]

    other = api.with_token(await token(ns, {**WRITER, SECRETS: ["get"]}, secrets=["other"]))
    refused = await other.post(f"{FED}/backends", json=with_credentials(ns.name))
    assert refused.status == 403 and refused.error["field"] == "config.auth_config_path"

    reader = api.with_token(await token(ns, {**WRITER, SECRETS: ["get"]}, secrets=[CREDENTIALS]))
    assert (await reader.post(f"{FED}/backends", json=with_credentials(ns.name))).status == 201
    assert (await writer.post(f"{FED}/backends", json=without_credentials(ns.name))).status == 201


async def test_a_service_account_needs_create_token_for_that_account(
    api: ApiClient, ns: Namespace
) -> None:
    writer = api.with_token(await token(ns, WRITER))
    for account, named in (("deployer", "deployer"), (None, "default")):
        refused = await writer.post(f"{FED}/backends", json=kubernetes_auth(ns.name, account))
        assert refused.status == 403, refused.body
        assert refused.error["field"] == "config.service_account"
        assert f"ServiceAccount {named!r}" in refused.error["message"]

    minter = api.with_token(await token(ns, {**WRITER, TOKENS: ["create"]}, accounts=["deployer"]))
    made = await minter.post(f"{FED}/backends", json=kubernetes_auth(ns.name, "deployer"))
    assert made.status == 201, made.body
    refused = await minter.post(f"{FED}/backends", json=kubernetes_auth(ns.name, "admin"))
    assert refused.status == 403 and refused.error["field"] == "config.service_account"


async def test_a_keyless_account_needs_create_token_for_that_account(
    api: ApiClient, ns: Namespace
) -> None:
    """A keyless backend logs in as the cloud identity its ServiceAccount names: its
    author must be one who could request that account's tokens by hand."""

    def keyless(account: str) -> dict[str, Any]:
        return without_credentials(
            ns.name, config={"region": "us-east-1", "service_account": account}
        )

    writer = api.with_token(await token(ns, WRITER))
    refused = await writer.post(f"{FED}/backends", json=keyless("payments-reader"))
    assert refused.status == 403, refused.body
    assert refused.error["field"] == "config.service_account"
    assert "ServiceAccount 'payments-reader'" in refused.error["message"]
    minter = api.with_token(
        await token(ns, {**WRITER, TOKENS: ["create"]}, accounts=["payments-reader"])
    )
    assert (await minter.post(f"{FED}/backends", json=keyless("payments-reader"))).status == 201
    refused = await minter.post(f"{FED}/backends", json=keyless("admin"))
    assert refused.status == 403 and refused.error["field"] == "config.service_account"


async def test_a_patch_is_checked_when_it_changes_the_config_or_asks_to_overwrite(
    api: ApiClient, ns: Namespace
) -> None:
    created = await api.post(f"{FED}/backends", json=with_credentials(ns.name))
    assert created.status == 201, created.body
    url = f"{FED}/backends/{created.body['id']}"
    writer = api.with_token(await token(ns, WRITER))
    # what does not change where the credentials go or what is written is the writer's
    assert (await writer.patch(url, json={"prune": True})).status == 200
    # the credentials sent elsewhere
    moved = await writer.patch(url, json={"config": {"endpoint": "http://127.0.0.1:2"}})
    assert moved.status == 403 and moved.error["field"] == "config.auth_config_path"
    # Secrets it did not write overwritten
    overwrite = {"conflict_policy": "overwrite"}
    refused = await writer.patch(url, json=overwrite)
    assert refused.status == 403 and refused.error["field"] == "conflict_policy"
    assert "secrets:write" in refused.error["message"]
    secret_writer = api.with_token(await token(ns, {**WRITER, SECRETS: ["create", "update"]}))
    assert (await secret_writer.patch(url, json=overwrite)).status == 200
    after = await api.get(url)
    assert after.body["config"]["endpoint"] == ADDRESS
    assert after.body["conflict_policy"] == "overwrite"


async def test_static_tokens_need_secrets_scopes(api: ApiClient, tok: Tokens) -> None:
    writer = api.with_token(tok.fed_write)  # federation:read and :write only
    refused = await writer.post(f"{FED}/backends", json=with_credentials(RESTRICTED_NAMESPACE))
    assert refused.status == 403 and refused.error["field"] == "config.auth_config_path"
    refused = await writer.post(f"{FED}/backends", json=kubernetes_auth(RESTRICTED_NAMESPACE))
    assert refused.status == 403 and refused.error["field"] == "config.service_account"
    overwrite = without_credentials(RESTRICTED_NAMESPACE, conflict_policy="overwrite")
    refused = await writer.post(f"{FED}/backends", json=overwrite)
    assert refused.status == 403 and refused.error["field"] == "conflict_policy"
    made = await writer.post(f"{FED}/backends", json=without_credentials(RESTRICTED_NAMESPACE))
    assert made.status == 201, made.body
    # every scope in that namespace
    limited = api.with_token(tok.restricted)
    for body in (
        with_credentials(RESTRICTED_NAMESPACE, conflict_policy="overwrite"),
        kubernetes_auth(RESTRICTED_NAMESPACE, "deployer"),
    ):
        made = await limited.post(f"{FED}/backends", json=body)
        assert made.status == 201, made.body
    for backend in (
        await api.get(f"{FED}/backends", params={"namespace": RESTRICTED_NAMESPACE})
    ).body["backends"]:
        assert (await api.delete(f"{FED}/backends/{backend['id']}")).status == 204


async def test_a_cluster_backend_checks_the_operator_namespace_and_every_namespace(
    api: ApiClient, ns: Namespace
) -> None:
    """A cluster backend's credentials are read in the operator's namespace, and it
    writes in every namespace it selects."""
    everything = ["get", "list", "create", "patch", "delete"]
    writer = api.with_token(await cluster_role_token(ns.kube, ns.name, {CFEDB: everything}))
    refused = await writer.post(f"{FED}/backends", json=cluster_body())
    assert refused.status == 403 and refused.error["field"] == "config.auth_config_path"
    assert OPERATOR_NAMESPACE in refused.error["message"]

    reader = api.with_token(
        await cluster_role_token(
            ns.kube, ns.name, {CFEDB: everything, SECRETS: ["get"]}, {SECRETS: [CREDENTIALS]}
        )
    )
    made = await reader.post(f"{FED}/backends", json=cluster_body())
    assert made.status == 201, made.body
    refused = await reader.post(f"{FED}/backends", json=cluster_body(conflict_policy="overwrite"))
    assert refused.status == 403 and refused.error["field"] == "conflict_policy"
    assert "every namespace" in refused.error["message"]
    assert (await api.delete(f"{FED}/backends/{made.body['id']}")).status == 204
