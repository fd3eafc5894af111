"""ServiceAccounts that lend their tokens to keyless backends, on the test apiserver."""

from __future__ import annotations

import uuid
from typing import Any

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.labels import TOKEN_FOR_ANNOTATION


def lend_account(
    cp: ControlPlane,
    namespace: str,
    name: str,
    token_for: str | None = "*",  # noqa: S107 - backend names, not a password
    **annotations: str,
) -> None:
    """The ServiceAccount ``namespace/name`` (made or replaced, with its namespace),
    opted in for ``token_for`` (``None``: not at all) and naming its cloud identity by
    ``annotations`` (their keys with ``__`` for ``/``)."""
    ensure_namespace(cp, namespace)
    wanted = {key.replace("__", "/"): value for key, value in annotations.items()}
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
