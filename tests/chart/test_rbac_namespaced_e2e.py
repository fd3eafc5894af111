"""``rbac.namespaced``: Roles in the watched namespaces only, proven for real.

The chart is installed with ``rbac.namespaced=true`` and one watched namespace;
the operator (its Deployment args now carry ``--namespace``) and the API run
as the chart's ServiceAccount. The operator syncs in the watched namespace
without a single forbidden call, and the identity can touch no Secret
anywhere else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer

from .harness import (
    Identity,
    Namespace,
    Running,
    api_call,
    denied,
    eventually,
    grants,
    run_api,
    run_operator,
    seed,
    unb64,
    used,
    vault_spec,
)
from .identity import api_admin_token, can
from .tools import Release

pytestmark = pytest.mark.e2e


@dataclass
class Scoped:
    identity: Identity  # the operator's
    api: Identity
    watched: Namespace
    other: Namespace


@pytest.fixture(scope="module")
def scoped(
    release_factory: Callable[..., Release],
    isolated_control_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scoped:
    cp = isolated_control_plane
    watched, other = Namespace(cp), Namespace(cp)
    release = release_factory(
        "nsrbac",
        "--set",
        "rbac.namespaced=true",
        "--set-json",
        f"watchNamespaces={json.dumps([watched.name])}",
    )
    tmp = tmp_path_factory.mktemp("nsrbac")
    return Scoped(Identity.of(release, tmp), Identity.of(release, tmp, api=True), watched, other)


@pytest.fixture(scope="module")
def operator(scoped: Scoped) -> Iterator[Running]:
    assert f"--namespace={scoped.watched.name}" in scoped.identity.container("operator")["args"]
    with run_operator(scoped.identity) as running:
        yield running


def test_operator_syncs_the_watched_namespace_only(
    scoped: Scoped, operator: Running, openbao: OpenBaoServer
) -> None:
    prefix = f"nsrbac-{uuid.uuid4().hex[:8]}"
    seed(openbao, prefix, {"db": {"password": "pw"}})
    for app in (scoped.watched, scoped.other):
        app.put_credentials("creds-vault-token", {"token": openbao.root_token})
        app.create_backend("vault", vault_spec(openbao, prefix, deletionPolicy="Delete"))

    watched = scoped.watched
    status = eventually(lambda: (s := watched.status("vault")).get("lastSync") and s, 60, "sync")
    assert status["status"] == "healthy" and status["secretsSynced"] == 1, status
    synced = watched.secret("external-vault-db")
    assert synced is not None and unb64(synced["data"]) == {"password": "pw"}
    assert scoped.other.status("vault") == {}  # not watched: untouched
    assert scoped.other.secret("external-vault-db") is None

    watched.call("DELETE", watched.backends("vault"))
    eventually(lambda: watched.gone("vault"), 30, "the deletion")
    assert watched.secret("external-vault-db") is None  # deletionPolicy: Delete

    calls = operator.proxy.snapshot()
    assert denied(calls) == []
    assert operator.forbidden_in_log() == [], operator.log()[-3000:]
    assert {c.namespace for c in calls if c.resource == "secrets"} <= {
        watched.name,
        scoped.identity.release.namespace,  # the MAC key
    }
    identity = scoped.identity
    granted = grants(
        identity.role(watched.name, identity.release.fullname),
        identity.role(identity.release.namespace, f"{identity.release.fullname}-mac-key"),
    )
    assert used(calls) <= granted, sorted(used(calls) - granted)


def test_api_runs_with_namespaced_rules_as_its_own_service_account(scoped: Scoped) -> None:
    identity = scoped.api
    admin = api_admin_token(identity.release.cp, scoped.watched.name)
    with run_api(identity) as api:
        path = f"/v1/secrets/local/x?namespace={scoped.watched.name}"
        status, _ = api_call(api, "PUT", path, admin, {"data": {"a": "1"}})
        assert status == 201
        status, read = api_call(api, "GET", path, admin)
        assert status == 200 and read["data"] == {"a": "1"}
        for plural in ("leases", "certificates"):
            where = f"/v1/federation/{plural}?namespace={scoped.watched.name}"
            status, listing = api_call(api, "GET", where, admin)
            assert status == 200 and listing == {plural: []}, listing
        calls = api.proxy.snapshot()
    assert denied(calls) == []
    assert api.forbidden_in_log() == []
    fullname = identity.release.fullname
    granted = grants(
        identity.cluster_role("api-cluster"), identity.role(scoped.watched.name, f"{fullname}-api")
    )
    assert used(calls) <= granted, sorted(used(calls) - granted)
    # the operator's Role in the watched namespace is not the API's, nor the reverse
    cp = identity.release.cp
    for verb in ("list", "watch", "patch"):
        assert not can(cp, identity.user, verb, "secrets", namespace=scoped.watched.name)
    assert not can(
        cp, scoped.identity.user, "create", "tokenreviews", group="authentication.k8s.io"
    )


@pytest.mark.parametrize("verb", ["get", "list", "create", "update", "patch", "delete"])
def test_no_secret_access_outside_the_watched_namespaces(scoped: Scoped, verb: str) -> None:
    identity = scoped.identity
    cp = identity.release.cp
    assert can(cp, identity.user, verb, "secrets", namespace=scoped.watched.name)
    for who in (identity, scoped.api):
        assert not can(cp, who.user, verb, "secrets", namespace=scoped.other.name)
        assert not can(cp, who.user, verb, "secrets")  # cluster-wide


def test_mac_key_is_the_only_secret_readable_in_the_release_namespace(scoped: Scoped) -> None:
    identity = scoped.identity
    cp, namespace = identity.release.cp, identity.release.namespace
    assert not can(cp, identity.user, "get", "secrets", namespace=namespace)
    assert not can(cp, identity.user, "list", "secrets", namespace=namespace)
    status, body = cp.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.user,
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "resourceAttributes": {
                    "verb": "get",
                    "resource": "secrets",
                    "namespace": namespace,
                    "name": "scaivault-federation-mac-key",
                },
            },
        },
    )
    assert status == 201 and body["status"]["allowed"] is True
