"""Tenancy end to end: the operator's own identity only where the settings allow it
(the session's operator allows its own namespace and ``AMBIENT_NAMESPACE``, and
has moto's keys as its "own" AWS identity), link-local / metadata endpoints
refused by the operator and the API without ever being contacted, and someone who
may create FederationBackends but not read Secrets getting no Secret value and no
ServiceAccount token out of the operator."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import MotoServer
from scaivault_federation.api.auth import TOKEN_AUDIENCE
from scaivault_federation.k8s.client import ForbiddenError, KubeClient, NotFoundError
from scaivault_federation.k8s.config import load_connection
from scaivault_federation.labels import credentials_labels
from tests.backends.harness_aws import put_secret
from tests.chart.identity import request_token, service_account_kubeconfig
from tests.conftest import AMBIENT_NAMESPACE
from tests.vault_kubernetes import create_service_account

from .conftest import FederationApi
from .helpers import Cluster, decoded
from .listeners import Listener, listening

pytestmark = pytest.mark.e2e


@pytest.fixture
async def counting() -> AsyncIterator[Listener]:
    async with listening() as server:
        yield server


@pytest.fixture
async def allowed_namespace(kube: KubeClient) -> AsyncIterator[Cluster]:
    with contextlib.suppress(Exception):
        await kube.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AMBIENT_NAMESPACE}},
        )
    yield Cluster(kube, AMBIENT_NAMESPACE)
    for item in (await kube.get(Cluster(kube, AMBIENT_NAMESPACE).backend_url())).get("items", []):
        with contextlib.suppress(NotFoundError):
            await kube.delete(
                Cluster(kube, AMBIENT_NAMESPACE).backend_url(item["metadata"]["name"])
            )


def ambient_spec(endpoint: str, region: str, prefix: str) -> dict[str, object]:
    return {
        "type": "aws-secrets-manager",
        "config": {"region": region, "endpoint": endpoint},  # no credentialsPath
        "pathMapping": {"ambient/**": f"{prefix}/**"},
        "mode": "sync",
        "syncInterval": "10m",
    }


async def test_ambient_identity_is_refused_outside_allowed_namespaces_without_a_call(
    cluster: Cluster, counting: Listener
) -> None:
    await cluster.create_backend("ambient", ambient_spec(counting.url, "us-east-1", "p"))
    status = await cluster.wait_status("ambient", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    assert "may not use" in ready["message"] and "ambient_identity_namespaces" in ready["message"]
    assert counting.requests == 0


async def test_the_same_spec_syncs_in_an_allowed_namespace(
    allowed_namespace: Cluster, moto_server: MotoServer
) -> None:
    prefix = f"amb-{uuid.uuid4().hex[:6]}"
    put_secret(moto_server.client("secretsmanager"), f"{prefix}/db", "ambient-value")
    name = f"ambient-{uuid.uuid4().hex[:4]}"
    await allowed_namespace.create_backend(
        name, ambient_spec(moto_server.endpoint, moto_server.region, prefix)
    )
    status = await allowed_namespace.wait_status(name, lambda s: s.get("status") == "healthy")
    assert status["secretsSynced"] == 1
    secret = await allowed_namespace.secret("ambient-db")
    assert secret is not None and decoded(secret) == {"value": "ambient-value"}


async def test_a_metadata_endpoint_is_refused_before_credentials_are_read(
    cluster: Cluster,
) -> None:
    await cluster.create_backend(
        "metadata",
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": "http://169.254.169.254", "authConfigPath": "no/such-secret"},
            "pathMapping": {"m/**": "secret/data/m/**"},
            "mode": "sync",
            "syncInterval": "10m",
        },
    )
    status = await cluster.wait_status("metadata", lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidConfig"
    assert "link-local or cloud metadata" in ready["message"]
    assert "not found" not in ready["message"]  # refused before the credentials were read


@pytest.fixture
async def author(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """The namespace as seen by a ServiceAccount that may create FederationBackends there
    and read them, but not read Secrets."""
    namespace = cluster.namespace
    create_service_account(control_plane, namespace, "author")
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "backend-author"},
        "rules": [
            {
                "apiGroups": ["federation.scaivault.io"],
                "resources": ["federationbackends"],
                "verbs": ["create", "get", "list", "watch", "delete"],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "backend-author"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "backend-author",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "author", "namespace": namespace}],
    }
    await cluster.kube.post(f"{rbac}/namespaces/{namespace}/roles", role)
    await cluster.kube.post(f"{rbac}/namespaces/{namespace}/rolebindings", binding)
    kubeconfig = service_account_kubeconfig(control_plane, namespace, "author", tmp_path / "kc")
    client = KubeClient(load_connection(kubeconfig))
    yield Cluster(client, namespace)
    await client.close()


def vault_spec(endpoint: str, **config: Any) -> dict[str, Any]:
    return {
        "type": "hashicorp-vault",
        "config": {"endpoint": endpoint, **config},
        "pathMapping": {"x/**": "secret/data/x/**"},
        "mode": "sync",
        "syncInterval": "10m",
    }


async def test_a_backend_author_gets_no_secret_and_no_service_account_token(
    cluster: Cluster, author: Cluster, counting: Listener, control_plane: ControlPlane
) -> None:
    canaries = {f"canary-secret-{uuid.uuid4().hex}", f"canary-sa-secret-{uuid.uuid4().hex}"}
    plain, typed = sorted(canaries)
    # what the namespace holds that the author may not read
    await cluster.put_secret("deploy-token", {"token": plain})  # not labelled
    create_service_account(control_plane, cluster.namespace, "deployer")  # not opted in
    await cluster.put_secret(
        "deployer-token",
        {"token": typed},
        kind="kubernetes.io/service-account-token",
        annotations={"kubernetes.io/service-account.name": "deployer"},
        labels=credentials_labels(),  # labelled, and still never read
    )
    with pytest.raises(ForbiddenError):
        await author.secret("deploy-token")
    issuer = control_plane.service_account_issuer
    attempts = {
        "steal-secret": vault_spec(counting.url, authConfigPath="deploy/token"),
        "steal-sa-secret": vault_spec(counting.url, authConfigPath="deployer/token"),
        "steal-sa-token": vault_spec(
            counting.url, authMethod="kubernetes", role="r", serviceAccount="deployer"
        ),
        "steal-default-token": vault_spec(counting.url, authMethod="kubernetes", role="r"),
        "steal-api-token": vault_spec(
            counting.url, authMethod="jwt", role="r", serviceAccount="deployer", audience=issuer
        ),
    }
    for name, spec in attempts.items():
        await author.create_backend(name, spec)  # through the CRD, as the author
    statuses = {
        name: await author.wait_status(name, lambda s: s.get("status") in ("error", "degraded"))
        for name in attempts
    }
    # nothing arrived: no Secret value, and no token the apiserver would accept
    for received in counting.received:
        assert not any(c in received.text() for c in canaries)
        for token in received.tokens():
            status_code, review = control_plane.request(
                "POST",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": {"token": token},
                },
            )
            assert status_code == 201 and not review["status"].get("authenticated")
    assert counting.requests == 0
    reasons = {
        "steal-secret": "InvalidConfig",
        "steal-sa-secret": "InvalidConfig",
        "steal-sa-token": "ServiceAccountNotOptedIn",
        "steal-default-token": "ServiceAccountNotFound",  # none here: no controller made it
        "steal-api-token": "ServiceAccountNotOptedIn",
    }
    for name, status in statuses.items():
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == reasons[name], (name, ready)
        assert not any(c in str(status) for c in canaries)
    events = await cluster.events()
    assert not any(c in str(events) for c in canaries)


async def test_a_backend_author_gets_nothing_through_the_api_either(
    cluster: Cluster,
    author: Cluster,
    counting: Listener,
    control_plane: ControlPlane,
    federation_api: FederationApi,
) -> None:
    """The same author through the HTTP API, where the Secret is labelled and the
    account opted in (so the operator would use both): the API refuses each body
    because the caller could not read that Secret or mint that token by hand."""
    namespace = cluster.namespace
    canary = f"canary-api-secret-{uuid.uuid4().hex}"
    await cluster.put_credentials("deploy-token", {"token": canary})
    create_service_account(control_plane, namespace, "deployer", token_for="*")
    token = request_token(control_plane, namespace, "author", TOKEN_AUDIENCE)
    config = {"endpoint": counting.url}
    attempts = {
        "api-steal-secret": ({**config, "auth_config_path": "deploy/token"}, "auth_config_path"),
        "api-steal-sa-token": (
            {**config, "auth_method": "kubernetes", "role": "r", "service_account": "deployer"},
            "service_account",
        ),
        "api-steal-jwt": (
            {**config, "auth_method": "jwt", "role": "r", "service_account": "deployer"},
            "service_account",
        ),
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for name, (body_config, field) in attempts.items():
            body = {
                "name": name,
                "namespace": namespace,
                "type": "hashicorp-vault",
                "config": body_config,
                "path_mapping": {"steal/**": "secret/data/steal/**"},
                "mode": "sync",
                "sync_interval": "10m",
            }
            async with http.post(f"{federation_api.url}/v1/federation/backends", json=body) as r:
                answer = await r.json()
                assert r.status == 403, (name, answer)
                assert answer["error"]["field"] == f"config.{field}", (name, answer)
                assert canary not in json.dumps(answer)
    for name in attempts:
        with pytest.raises(NotFoundError):
            await cluster.kube.get(
                f"/apis/federation.scaivault.io/v1alpha1/namespaces/{namespace}"
                f"/federationbackends/{name}"
            )
    assert counting.requests == 0
