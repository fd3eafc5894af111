"""The chart's RBAC, proven by running the operator and the API with exactly it.

The chart is installed with ``helm install`` into the test apiserver, with
ServiceAccount tokens granted in the two namespaces the scenarios use; a
TokenRequest gives a token of each Deployment's own ServiceAccount (the
operator's, the API's); each process runs with a kubeconfig holding only its
token and the arguments and environment of its rendered Deployment. Their
Kubernetes calls go through a recording proxy, so the tests check both
directions: nothing they do is forbidden (the rules suffice), and every verb
the rules grant was used (no rule is there for nothing). SubjectAccessReviews
then show what each identity cannot do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.api.auth import TOKEN_AUDIENCE
from tests.vault_kubernetes import ROLE, configure_kubernetes_auth, create_service_account

from .cluster_scenario import cluster_backend_scenario
from .harness import (
    API_GROUP,
    TOKEN_ACCOUNT,
    Identity,
    Namespace,
    Running,
    api_call,
    app_namespace_name,
    denied,
    eventually,
    grants,
    http_ok,
    operator_scenario,
    run_api,
    run_operator,
    seed,
    token_values,
    used,
)
from .identity import api_admin_token, can, request_token
from .tools import Release

pytestmark = pytest.mark.e2e


@dataclass
class Installed:
    operator: Identity
    api: Identity
    #: where the operator's scenario, and the API's, run (tokens granted in both)
    operator_namespace: str
    api_namespace: str


@pytest.fixture(scope="module")
def installed(
    release_factory: Callable[..., Release],
    tmp_path_factory: pytest.TempPathFactory,
    isolated_control_plane: ControlPlane,
) -> Installed:
    began = time.monotonic()
    cp = isolated_control_plane
    operator_namespace, api_namespace = app_namespace_name(cp), app_namespace_name(cp)
    release = release_factory("rbac", *token_values(operator_namespace, api_namespace))
    tmp = tmp_path_factory.mktemp("rbac")
    operator, api = Identity.of(release, tmp), Identity.of(release, tmp, api=True)
    print(f"helm install + ServiceAccount tokens: {time.monotonic() - began:.1f}s")
    return Installed(operator, api, operator_namespace, api_namespace)


@pytest.fixture(scope="module")
def identity(installed: Installed) -> Identity:
    """The operator's."""
    return installed.operator


@pytest.fixture(scope="module")
def operator(identity: Identity) -> Iterator[Running]:
    with run_operator(identity) as running:
        yield running


@pytest.fixture(scope="module")
def api(installed: Installed) -> Iterator[Running]:
    with run_api(installed.api) as running:
        yield running


def tokens_role(identity: Identity, namespace: str) -> dict[str, Any]:
    return identity.role(namespace, f"{identity.release.fullname}-tokens")


def test_operator_syncs_and_reports_a_conflict_as_the_service_account(
    installed: Installed,
    identity: Identity,
    operator: Running,
    openbao: OpenBaoServer,
    isolated_control_plane: ControlPlane,
) -> None:
    assert "--standalone" in identity.container("operator")["args"]
    operator_scenario(isolated_control_plane, openbao, installed.operator_namespace)
    cluster_backend_scenario(isolated_control_plane, openbao, identity.release.namespace)

    calls = operator.proxy.snapshot()
    assert denied(calls) == []
    assert operator.forbidden_in_log() == [], operator.log()[-3000:]
    assert http_ok(operator.url)

    # Every verb the operator's ClusterRole and its tokens Role grant was used, and
    # nothing else; tokens only of the one account, only where granted.
    granted = grants(
        identity.cluster_role("operator"), tokens_role(identity, installed.operator_namespace)
    )
    assert used(calls) == granted, (sorted(used(calls) - granted), sorted(granted - used(calls)))
    assert {(c.namespace, c.name) for c in calls if c.resource == "serviceaccounts/token"} == {
        (installed.operator_namespace, TOKEN_ACCOUNT)
    }


def test_api_serves_backends_and_secrets_as_its_own_service_account(
    installed: Installed, api: Running, openbao: OpenBaoServer, isolated_control_plane: ControlPlane
) -> None:
    identity = installed.api
    assert identity.user != installed.operator.user
    app = Namespace(isolated_control_plane, installed.api_namespace)
    admin = api_admin_token(isolated_control_plane, app.name)
    prefix = f"rbac-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"db": {"password": "proxied"}})
    app.put_credentials("creds-vault-token", {"token": openbao.root_token})

    # A caller without rights: TokenReview and SubjectAccessReview answer, 403.
    status, _ = isolated_control_plane.request(
        "POST",
        f"/api/v1/namespaces/{app.name}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}},
    )
    assert status == 201
    nobody = request_token(isolated_control_plane, app.name, "nobody", TOKEN_AUDIENCE)
    status, error = api_call(api, "GET", f"/v1/federation/backends?namespace={app.name}", nobody)
    assert status == 403, error
    status, _ = api_call(api, "GET", "/v1/federation/backends", "not-a-token")
    assert status == 401

    # Create a proxy backend, change it, read through it.
    body = {
        "name": "vault-proxy",
        "namespace": app.name,
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "auth_method": "token",
            "auth_config_path": "creds/vault-token",
        },
        "path_mapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "proxy",
    }
    status, created = api_call(api, "POST", "/v1/federation/backends", admin, body)
    assert status == 201, created
    ident = created["id"]
    status, listed = api_call(api, "GET", f"/v1/federation/backends?namespace={app.name}", admin)
    assert status == 200 and [b["id"] for b in listed["backends"]] == [ident]
    change = {"conflict_policy": "overwrite"}
    status, patched = api_call(api, "PATCH", f"/v1/federation/backends/{ident}", admin, change)
    assert status == 200 and patched["conflict_policy"] == "overwrite", patched
    proxied = f"/v1/secrets/external/vault/db?namespace={app.name}"
    status, read = api_call(api, "GET", proxied, admin)
    assert status == 200, read
    assert read["data"] == {"password": "proxied"} and read["source"] == "proxy"

    # A proxy read through kubernetes auth: the API requests the ServiceAccount's token.
    create_service_account(isolated_control_plane, app.name, TOKEN_ACCOUNT, token_for="*")
    mount = configure_kubernetes_auth(
        openbao, isolated_control_plane, app.name, TOKEN_ACCOUNT, prefix
    )
    k8s_body = {
        "name": "vault-k8s-proxy",
        "namespace": app.name,
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "auth_method": "kubernetes",
            "auth_mount": mount,
            "role": ROLE,
            "service_account": TOKEN_ACCOUNT,
        },
        "path_mapping": {"k8s/vault/**": f"secret/data/{prefix}/**"},
        "mode": "proxy",
    }
    status, created_k8s = api_call(api, "POST", "/v1/federation/backends", admin, k8s_body)
    assert status == 201, created_k8s
    status, read = api_call(api, "GET", f"/v1/secrets/k8s/vault/db?namespace={app.name}", admin)
    assert status == 200 and read["data"] == {"password": "proxied"}, read
    status, _ = api_call(api, "DELETE", f"/v1/federation/backends/{created_k8s['id']}", admin)
    assert status == 204

    # Local secrets: create, replace, read, delete.
    path = f"/v1/secrets/local/app/config?namespace={app.name}"
    status, _ = api_call(api, "PUT", path, admin, {"data": {"a": "1"}})
    assert status == 201
    status, _ = api_call(api, "PUT", path, admin, {"data": {"a": "2"}})
    assert status == 200
    status, read = api_call(api, "GET", path, admin)
    assert status == 200 and read["data"] == {"a": "2"} and read["source"] == "local"
    status, _ = api_call(api, "DELETE", path, admin)
    assert status == 204

    # FederationLeases and FederationCertificates: the read-only listings.
    for plural in ("leases", "certificates"):
        where = f"/v1/federation/{plural}?namespace={app.name}"
        status, listing = api_call(api, "GET", where, admin)
        assert status == 200 and listing == {plural: []}, listing

    cluster_backend_through_the_api(api, isolated_control_plane, openbao, identity, app, prefix)

    status, _ = api_call(api, "DELETE", f"/v1/federation/backends/{ident}", admin)
    assert status == 204
    eventually(lambda: app.gone("vault-proxy"), 30, "the backend to go")

    calls = api.proxy.snapshot()
    assert denied(calls) == []
    assert api.forbidden_in_log() == [], api.log()[-3000:]
    granted = grants(identity.cluster_role("api"), tokens_role(identity, installed.api_namespace))
    assert used(calls) == granted, (sorted(used(calls) - granted), sorted(granted - used(calls)))


def cluster_backend_through_the_api(
    api: Running,
    cp: ControlPlane,
    openbao: OpenBaoServer,
    identity: Identity,
    app: Namespace,
    prefix: str,
) -> None:
    """A proxy-mode ClusterFederationBackend through the API: created (its credentials
    in the release namespace), listed, read through in a namespace it selects (the
    API's namespace watch), changed, deleted."""
    admin = api_admin_token(cp, app.name)
    run = uuid.uuid4().hex[:6]
    home = Namespace(cp, identity.release.namespace)
    home.put_credentials(f"creds-cluster-api-{run}", {"token": openbao.root_token})
    label = "scaivault-rbac/api-cluster"
    app.merge_patch(f"/api/v1/namespaces/{app.name}", {"metadata": {"labels": {label: run}}})
    body = {
        "name": f"platform-api-{run}",
        "scope": "cluster",
        "type": "hashicorp-vault",
        "config": {
            "endpoint": openbao.address,
            "auth_method": "token",
            "auth_config_path": f"creds/cluster-api-{run}",
        },
        "namespace_selector": {"match_labels": {label: run}},
        "path_mapping": {"cluster/{namespace}/**": f"secret/data/{prefix}/**"},
        "mode": "proxy",
    }
    status, created = api_call(api, "POST", "/v1/federation/backends", admin, body)
    assert status == 201, created
    assert (created["scope"], created["namespace"]) == ("cluster", None), created
    ident = created["id"]
    status, listed = api_call(api, "GET", "/v1/federation/backends?scope=cluster", admin)
    assert status == 200 and ident in [b["id"] for b in listed["backends"]], listed
    path = f"/v1/secrets/cluster/{app.name}/db?namespace={app.name}"

    def proxied() -> bool:
        status, read = api_call(api, "GET", path, admin)
        return status == 200 and read["source"] == "proxy" and read["backend_id"] == ident

    eventually(proxied, 30, "a read through the cluster backend")
    status, read = api_call(api, "GET", path, admin)
    assert read["data"] == {"password": "proxied"}, read
    change = {"conflict_policy": "overwrite"}
    status, patched = api_call(api, "PATCH", f"/v1/federation/backends/{ident}", admin, change)
    assert status == 200 and patched["conflict_policy"] == "overwrite", patched
    status, _ = api_call(api, "DELETE", f"/v1/federation/backends/{ident}", admin)
    assert status == 204


@pytest.mark.parametrize(
    ("verb", "group", "resource", "namespace"),
    [
        ("create", "rbac.authorization.k8s.io", "clusterroles", None),
        ("bind", "rbac.authorization.k8s.io", "clusterroles", None),
        ("escalate", "rbac.authorization.k8s.io", "roles", "default"),
        ("create", "rbac.authorization.k8s.io", "rolebindings", "default"),
        ("delete", "", "namespaces", None),
        ("get", "", "configmaps", "default"),
        ("create", "", "pods", "default"),
        ("impersonate", "", "serviceaccounts", "default"),
        ("update", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("delete", "apiextensions.k8s.io", "customresourcedefinitions", None),
        ("update", API_GROUP, "federationbackends", "default"),
        ("deletecollection", "", "secrets", "default"),
        ("create", "apps", "deployments", "default"),
        ("create", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None),
        ("create", "coordination.k8s.io", "leases", "default"),
        ("patch", "coordination.k8s.io", "leases", "kube-system"),
        # ServiceAccount tokens: never cluster-wide, nor where no namespace was granted
        ("create", "", "serviceaccounts/token", None),
        ("create", "", "serviceaccounts/token", "default"),
        ("create", "", "serviceaccounts/token", "scaivault-system"),
    ],
)
@pytest.mark.parametrize("who", ["operator", "api"])
def test_service_account_cannot_do_more(
    installed: Installed,
    isolated_control_plane: ControlPlane,
    who: str,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
) -> None:
    identity: Identity = getattr(installed, who)
    resource, _, subresource = resource.partition("/")
    assert not can(
        isolated_control_plane,
        identity.user,
        verb,
        resource,
        group=group,
        namespace=namespace,
        subresource=subresource,
    )


def test_a_standalone_operator_has_no_lease_rights(
    identity: Identity, isolated_control_plane: ControlPlane
) -> None:
    """One replica runs --standalone: the chart grants nothing on Leases, even at home."""
    for verb in ("list", "create", "patch", "delete"):
        assert not can(
            isolated_control_plane,
            identity.user,
            verb,
            "leases",
            group="coordination.k8s.io",
            namespace=identity.release.namespace,
        )


def test_service_account_can_what_it_needs(
    identity: Identity, isolated_control_plane: ControlPlane
) -> None:
    """The other side of the SubjectAccessReviews above, for a namespace it never saw."""
    for verb, group, resource in [
        ("list", "", "secrets"),
        ("watch", "", "secrets"),
        ("create", "", "secrets"),
        ("patch", API_GROUP, "federationbackends"),
        ("create", "", "events"),
    ]:
        assert can(
            isolated_control_plane,
            identity.user,
            verb,
            resource,
            group=group,
            namespace="elsewhere",
        )


def test_service_account_tokens_only_of_the_granted_account_where_granted(
    installed: Installed, isolated_control_plane: ControlPlane
) -> None:
    granted = (installed.operator_namespace, installed.api_namespace)
    for identity in (installed.operator, installed.api):
        for namespace in (*granted, "elsewhere"):
            for account in (TOKEN_ACCOUNT, "default", "deployer"):
                allowed = can(
                    isolated_control_plane,
                    identity.user,
                    "create",
                    "serviceaccounts",
                    namespace=namespace,
                    subresource="token",
                    name=account,
                )
                expected = namespace in granted and account == TOKEN_ACCOUNT
                assert allowed is expected, (identity.user, namespace, account)


@pytest.mark.parametrize(
    ("verb", "group", "resource"),
    [
        ("list", "", "secrets"),
        ("watch", "", "secrets"),
        ("patch", "", "secrets"),
        ("patch", API_GROUP, "federationbackends/status"),
        ("create", "", "events"),
        ("list", "apiextensions.k8s.io", "customresourcedefinitions"),
    ],
)
def test_the_api_has_none_of_the_operators_rights(
    installed: Installed, isolated_control_plane: ControlPlane, verb: str, group: str, resource: str
) -> None:
    """The network-facing API cannot list Secrets, write status or Events, even though
    the operator can (and the operator cannot review tokens)."""
    resource, _, subresource = resource.partition("/")
    for namespace in ("elsewhere", None):
        assert not can(
            isolated_control_plane, installed.api.user, verb, resource, group=group,
            namespace=namespace, subresource=subresource,
        )  # fmt: skip
    assert not can(
        isolated_control_plane,
        installed.operator.user,
        "create",
        "tokenreviews",
        group="authentication.k8s.io",
    )
