"""The HTTP API, started in-process in the session's event loop against the real
apiserver of the ``control_plane`` fixture, with a static token file.

The operator, the CRD, the admin client and the backend servers are the
session's, from the root conftest: one operator serves every folder's tests.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import free_port
from scaivault_federation.api.server import ApiServer
from scaivault_federation.api.static_tokens import Scope, write_static_tokens
from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import GROUP, VERSION
from scaivault_federation.settings import Settings
from tests.api_server import started_api

from ..conftest import OPERATOR_NAMESPACE
from .helpers import ApiClient, OpenApiChecker

API_NAMESPACE = "api-default"
RESTRICTED_NAMESPACE = "api-restricted"
CANARY_TOKEN = "svf-canary-token-" + "7f3a9c1e5b2d4f60"


@dataclass(frozen=True)
class Tokens:
    admin: str
    read_only: str
    fed_write: str  # federation:read + federation:write
    secrets_rw: str  # secrets:read + secrets:write
    restricted: str  # every scope, only in RESTRICTED_NAMESPACE
    canary: str  # every scope; its value must never be echoed


@dataclass
class Namespace:
    name: str
    kube: KubeClient

    def backends(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.name}/federationbackends"

    def secrets(self) -> str:
        return f"/api/v1/namespaces/{self.name}/secrets"


@pytest.fixture(scope="package")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tokens]:
    folder = tmp_path_factory.mktemp("api-tokens")
    tokens = Tokens(
        admin=f"svf-test-admin-{uuid.uuid4().hex}",
        read_only=f"svf-test-read-{uuid.uuid4().hex}",
        fed_write=f"svf-test-fedw-{uuid.uuid4().hex}",
        secrets_rw=f"svf-test-sec-{uuid.uuid4().hex}",
        restricted=f"svf-test-restricted-{uuid.uuid4().hex}",
        canary=CANARY_TOKEN,
    )
    path = folder / "tokens.yaml"
    everything = list(Scope)
    write_static_tokens(
        path,
        [
            ("admin", tokens.admin, everything),
            ("read_only", tokens.read_only, [Scope.FEDERATION_READ]),
            ("fed_write", tokens.fed_write, [Scope.FEDERATION_READ, Scope.FEDERATION_WRITE]),
            ("secrets_rw", tokens.secrets_rw, [Scope.SECRETS_READ, Scope.SECRETS_WRITE]),
            ("canary", tokens.canary, everything),
        ],
    )
    # one entry in plain-token form, limited to a namespace
    doc = yaml.safe_load(path.read_text())
    doc["tokens"].append(
        {
            "name": "restricted",
            "token": tokens.restricted,
            "scopes": [s.value for s in everything],
            "namespaces": [RESTRICTED_NAMESPACE],
        }
    )
    path.write_text(yaml.safe_dump(doc))
    return path, tokens


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="package")
def api_log() -> Iterator[LogCapture]:
    """Every log line of the API's loggers (and aiohttp's) during the session."""
    capture = LogCapture()
    loggers = [logging.getLogger(n) for n in ("scaivault_federation", "aiohttp")]
    previous = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    yield capture
    for lg, level in previous:
        lg.removeHandler(capture)
        lg.setLevel(level)


def api_settings(
    control_plane: ControlPlane, tokens: tuple[Path, Tokens], **extra: Any
) -> Settings:
    """The settings of an API on a free loopback port over the session's control plane,
    with the static tokens, and ``extra`` on top."""
    return Settings.load(
        api_host="127.0.0.1",
        api_port=free_port(),
        api_default_namespace=API_NAMESPACE,
        api_static_tokens=tokens[0],
        kubeconfig=str(control_plane.kubeconfig),
        # cluster backends' credentials: where the session's operator reads them
        operator_namespace=OPERATOR_NAMESPACE,
        **extra,
    )


@pytest.fixture(scope="package")
async def api_server(
    control_plane: ControlPlane,
    crd: None,
    tokens: tuple[Path, Tokens],
    api_log: LogCapture,
    kube: KubeClient,
) -> AsyncIterator[ApiServer]:
    for namespace in (API_NAMESPACE, RESTRICTED_NAMESPACE):
        ensure_namespace(control_plane, namespace)
    async with started_api(api_settings(control_plane, tokens)) as server:
        yield server
    for namespace in (API_NAMESPACE, RESTRICTED_NAMESPACE, "api-fuzz"):
        await delete_backends(kube, namespace)
    await delete_cluster_backends(kube)


@pytest.fixture(scope="package")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="package")
async def openapi_doc(api_server: ApiServer, http_session: aiohttp.ClientSession) -> dict:  # type: ignore[type-arg]
    async with http_session.get(api_server.url + "/v1/federation/openapi.json") as resp:
        assert resp.status == 200
        doc: dict = await resp.json()  # type: ignore[type-arg]
    return copy.deepcopy(doc)


@pytest.fixture(scope="package")
def checker(openapi_doc: dict) -> OpenApiChecker:  # type: ignore[type-arg]
    return OpenApiChecker(openapi_doc)


@pytest.fixture
def api(
    api_server: ApiServer,
    http_session: aiohttp.ClientSession,
    checker: OpenApiChecker,
    tokens: tuple[Path, Tokens],
) -> ApiClient:
    """A client with the admin token."""
    return ApiClient(http_session, api_server.url, checker, tokens[1].admin)


@pytest.fixture
def tok(tokens: tuple[Path, Tokens]) -> Tokens:
    return tokens[1]


@pytest.fixture
async def ns(kube: KubeClient) -> AsyncIterator[Namespace]:
    """A fresh namespace, deleted afterwards with everything in it."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    await kube.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    namespace = Namespace(name, kube)
    yield namespace
    await delete_backends(kube, name)
    with contextlib.suppress(NotFoundError):
        await kube.delete(f"/api/v1/namespaces/{name}")


CLUSTER_BACKENDS = f"/apis/{GROUP}/{VERSION}/clusterfederationbackends"
#: every ClusterFederationBackend the API tests make is named so (they reach every
#: namespace their selector selects, so none may outlive the tests)
CLUSTER_PREFIX = "api-c-"


async def delete_cluster_backends(kube: KubeClient) -> None:
    for item in (await kube.get(CLUSTER_BACKENDS))["items"]:
        name = item["metadata"]["name"]
        if name.startswith(CLUSTER_PREFIX):
            with contextlib.suppress(NotFoundError):
                await kube.delete(f"{CLUSTER_BACKENDS}/{name}")


async def delete_backends(kube: KubeClient, namespace: str) -> None:
    """Delete the namespace's FederationBackends (the local control plane has no
    namespace controller, so deleting a namespace alone leaves them running)."""
    with contextlib.suppress(NotFoundError):
        await kube.delete(Namespace(namespace, kube).backends())
