"""ServiceAccounts that lend their tokens to keyless backends, on the test apiserver, and
keyless backends built as the operator builds them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.backends import SecretBackend
from scaivault_federation.backends.bound_tokens import BoundTokens
from scaivault_federation.backends.credentials import connect
from scaivault_federation.backends.factory import BackendEnvironment
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.tokens import ServiceAccountStore
from scaivault_federation.labels import TOKEN_FOR_ANNOTATION
from scaivault_federation.models.spec import BackendSpec
from tests.unit.test_credential_secrets import spec as keyless_spec

__all__ = ["Keyless", "Team", "keyless_spec", "lend_account", "new_namespace", "opened"]


def lend_account(
    cp: ControlPlane,
    namespace: str,
    name: str,
    annotations: Mapping[str, str] | None = None,
    token_for: str | None = "*",  # noqa: S107 - backend names, not a password
) -> None:
    """The ServiceAccount ``namespace/name`` (made or replaced, with its namespace),
    opted in for ``token_for`` (``None``: not at all) and naming its cloud identity by
    ``annotations``."""
    ensure_namespace(cp, namespace)
    wanted = dict(annotations or {})
    if token_for is not None:
        wanted[TOKEN_FOR_ANNOTATION] = token_for
    metadata: dict[str, Any] = {"name": name, "annotations": wanted}
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    status, answer = cp.request("POST", path, body)
    if status == 409:
        status, answer = cp.request("PUT", f"{path}/{name}", body)
    assert status in (200, 201), (status, answer)


def new_namespace(cp: ControlPlane, label: str) -> str:
    namespace = f"{label}-{uuid.uuid4().hex[:8]}"
    ensure_namespace(cp, namespace)
    return namespace


class NoSecrets:
    async def get(self, namespace: str, name: str) -> None:
        raise AssertionError("a keyless backend reads no Secret")


class Keyless:
    """Backends built as the operator builds them (``connect``), with the real apiserver's
    ServiceAccounts and TokenRequests and the operator settings of ``environment``."""

    def __init__(self, kube: KubeClient, environment: BackendEnvironment) -> None:
        self.tokens = BoundTokens(ServiceAccountStore(kube))
        self.environment = environment
        self.opened: list[SecretBackend] = []

    async def connect(self, spec: BackendSpec, namespace: str, backend: str) -> SecretBackend:
        made = await connect(
            spec,
            namespace,
            backend,
            secrets=NoSecrets(),
            tokens=self.tokens,
            environment=self.environment,
        )
        self.opened.append(made)
        return made

    def exchanges(self) -> int:
        """Token exchanges made so far, every account and identity together."""
        return sum(self.tokens.exchanges.exchanges.values())

    async def close(self) -> None:
        for backend in self.opened:
            await backend.close()


@contextlib.asynccontextmanager
async def opened(kube: KubeClient, environment: BackendEnvironment) -> AsyncIterator[Keyless]:
    made = Keyless(kube, environment)
    try:
        yield made
    finally:
        await made.close()


@dataclass(frozen=True)
class Team:
    """A namespace whose ServiceAccount ``reader`` lends its tokens, the cloud identity
    the account names, and the one secret that identity may read."""

    namespace: str
    identity: str

    @property
    def secret(self) -> str:
        return f"{self.namespace}/db"
