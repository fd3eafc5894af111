"""The operator's own identity, attacked through what a backend's config names.

An operator process of its own, on a control plane of its own, whose every cloud
credential lookup is pointed at loopback stand-ins that record what they are
asked: AWS's instance metadata and container credentials endpoints, Google's
metadata server, empty AWS config files, no keys in its environment. It runs
as a ServiceAccount of its namespace (cluster-admin, as a chart install could
be), so it can tell its own account.

- A backend whose ``credentialsPath`` / ``authConfigPath`` names a credentials
  Secret without the keys its method needs, in a namespace not allowed the
  operator's identity, ends ``InvalidConfig`` naming the keys, and neither a
  stand-in nor the backend's endpoint hears anything: for AWS Secrets
  Manager, Google Secret Manager and Vault's ``aws`` login.
- No backend gets a token of the operator's own ServiceAccount, even one the
  account's annotation opts in: not a ClusterFederationBackend, not a
  FederationBackend of the operator's namespace.
- The control: a backend of the operator's namespace without a credentials
  Secret does reach for the identity, and a stand-in hears it, so the
  silence above means what it says.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.config import load_connection
from tests.chart.identity import service_account_kubeconfig
from tests.vault_kubernetes import create_service_account

from .fleet import Fleet
from .helpers import Cluster, eventually
from .listeners import Listener, listening
from .operator_process import start_operator

pytestmark = pytest.mark.e2e

SYSTEM = "scaivault-system"
OPERATOR_ACCOUNT = "scaivault-federation"
#: the operator's environment variables that could hand it an identity: all dropped
IDENTITY_VARIABLES = ("AWS_", "GOOGLE_", "GCE_", "CLOUDSDK_", "AZURE_", "BOTO_", "SCAIVAULT_")


@dataclass
class StandIns:
    """What the sealed operator may ask for an identity, and the backends' endpoint."""

    aws: Listener  # instance metadata (IMDS) and container credentials
    google: Listener  # the GCE metadata server
    backend: Listener  # every backend's endpoint

    def heard(self) -> dict[str, int]:
        return {
            "aws": self.aws.requests,
            "google": self.google.requests,
            "backend": self.backend.requests,
        }


@pytest.fixture(scope="module")
def sealed_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("ambient-cp")) as cp:
        install_crd(cp)
        ensure_namespace(cp, SYSTEM)
        create_service_account(cp, SYSTEM, OPERATOR_ACCOUNT, token_for="*")
        status, answer = cp.request(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "operator-admin"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": SYSTEM}
                ],
            },
        )
        assert status == 201, answer
        yield cp


@pytest.fixture(scope="module")
async def stand_ins() -> AsyncIterator[StandIns]:
    async with listening(404) as aws, listening(404) as google, listening() as backend:
        yield StandIns(aws, google, backend)


def sealed_environment(folder: Path, stand_ins: StandIns, kubeconfig: Path) -> dict[str, str]:
    """The test process's environment without any identity, every credential lookup
    pointed at the stand-ins."""
    empty = folder / "empty"
    empty.write_text("")
    (folder / "gcloud").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(IDENTITY_VARIABLES)}
    return {
        **env,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "BOTO_CONFIG": str(empty),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_ins.aws.url + "/",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": stand_ins.aws.url + "/container-credentials",
        "GCE_METADATA_HOST": f"127.0.0.1:{stand_ins.google.port}",
        "GCE_METADATA_IP": f"127.0.0.1:{stand_ins.google.port}",
        "CLOUDSDK_CONFIG": str(folder / "gcloud"),
        "KUBECONFIG": str(kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": SYSTEM,
        # the stand-in endpoint may receive the identity where a namespace may use it
        "SCAIVAULT_AMBIENT_IDENTITY_ENDPOINTS": "127.0.0.1",
    }


@pytest.fixture(scope="module")
def sealed_operator(
    sealed_plane: ControlPlane, stand_ins: StandIns, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess]:
    folder = tmp_path_factory.mktemp("ambient-operator")
    kubeconfig = service_account_kubeconfig(
        sealed_plane, SYSTEM, OPERATOR_ACCOUNT, folder / "kubeconfig"
    )
    env = sealed_environment(folder, stand_ins, kubeconfig)
    proc = start_operator("sealed-operator", folder / "operator.log", env, "--metrics-port", "0")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def admin(
    sealed_plane: ControlPlane, sealed_operator: ManagedProcess
) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_connection(sealed_plane.kubeconfig))
    yield client
    await client.close()


@pytest.fixture
async def tenant(admin: KubeClient) -> Cluster:
    """A namespace not allowed the operator's identity."""
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    await admin.post(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return Cluster(admin, name)


def keyless_cases(endpoint: str) -> dict[str, tuple[dict[str, Any], str]]:
    """Backend type -> (a spec naming the Secret ``creds-empty``, the keys it lacks)."""
    return {
        "aws": (
            {
                "type": "aws-secrets-manager",
                "config": {
                    "region": "us-east-1",
                    "endpoint": endpoint,
                    "credentialsPath": "creds/empty",
                },
            },
            "'access_key_id', 'secret_access_key'",
        ),
        "google": (
            {
                "type": "google-secret-manager",
                # https: without a key the client would use Application Default Credentials
                "config": {
                    "project": "p",
                    "endpoint": endpoint.replace("http://", "https://"),
                    "credentialsPath": "creds/empty",
                },
            },
            "'credentials.json'",
        ),
        "vault-aws": (
            {
                "type": "hashicorp-vault",
                "config": {
                    "endpoint": endpoint,
                    "authMethod": "aws",
                    "authConfigPath": "creds/empty",
                },
            },
            "'access_key_id', 'secret_access_key'",
        ),
    }


def backend(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "pathMapping": {"x/**": "team/**"}, "mode": "sync", "syncInterval": "10m"}


def ready_of(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == "Ready")


@pytest.mark.parametrize("kind", ["aws", "google", "vault-aws"])
async def test_a_keyless_credentials_secret_reaches_no_identity_and_no_backend(
    tenant: Cluster, stand_ins: StandIns, kind: str
) -> None:
    before = stand_ins.heard()
    # labelled, so the operator reads it: what it lacks is the keys
    await tenant.put_credentials("creds-empty", {"note": "no keys here"})
    spec, missing = keyless_cases(stand_ins.backend.url)[kind]
    await tenant.create_backend(kind, backend(spec))
    status = await tenant.wait_status(kind, lambda s: s.get("status") == "error")
    assert stand_ins.heard() == before  # no metadata, credential or backend request
    ready = ready_of(status)
    assert ready["reason"] == "InvalidConfig"
    assert missing in ready["message"] and "lacks the key" in ready["message"]
    await tenant.sync_now_failing(kind)  # a second attempt asks nothing either
    assert stand_ins.heard() == before


async def test_no_backend_gets_a_token_of_the_operators_own_account(
    admin: KubeClient, stand_ins: StandIns
) -> None:
    before = stand_ins.heard()
    spec = backend(
        {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": stand_ins.backend.url,
                "authMethod": "kubernetes",
                "role": "r",
                "serviceAccount": OPERATOR_ACCOUNT,  # annotated token-for "*", still refused
            },
        }
    )
    fleet = Fleet(admin, SYSTEM)
    try:
        await fleet.namespace(selected=True)
        await fleet.post("lend-me-yours", spec)

        async def refused() -> dict[str, Any] | None:
            status = await fleet.status("lend-me-yours")
            return status if status.get("status") == "error" else None

        cluster_status = await eventually(refused, 30, "the cluster backend to be refused")
        home = Cluster(admin, SYSTEM)
        await home.create_backend("own-namespace", spec)
        own_status = await home.wait_status("own-namespace", lambda s: s.get("status") == "error")
        assert stand_ins.heard() == before  # no token was sent anywhere
        for status in (cluster_status, own_status):
            ready = ready_of(status)
            assert ready["reason"] == "InvalidConfig"
            assert "the operator's own" in ready["message"]
    finally:
        await fleet.delete("lend-me-yours")
        await Cluster(admin, SYSTEM).kube.delete(
            Cluster(admin, SYSTEM).backend_url("own-namespace")
        )
        await fleet.cleanup()


async def test_control_the_operators_namespace_does_reach_for_the_identity(
    admin: KubeClient, stand_ins: StandIns
) -> None:
    # last in this module: its retries keep asking the stand-in until it is deleted
    home = Cluster(admin, SYSTEM)
    spec = backend(
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1", "endpoint": stand_ins.backend.url},
        }
    )
    await home.create_backend("ambient-control", spec)
    try:
        await eventually(
            lambda: _positive(stand_ins.aws.requests), 30, "the AWS stand-in to be asked"
        )
    finally:
        await admin.delete(home.backend_url("ambient-control"))


async def _positive(value: int) -> int | None:
    return value or None
