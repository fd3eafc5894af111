"""FederationBackend I/O: status patches, credentials Secrets, the MAC key, Events."""

from __future__ import annotations

import base64
import logging
import secrets as pysecrets
from typing import Any

from ..backends.base import Credentials
from ..backends.errors import InvalidBackendConfigError
from ..labels import PATH_ANNOTATION
from ..models.spec import GROUP, KIND, PLURAL, VERSION
from ..models.status import BackendStatus
from ..paths import secret_name_for_path
from .client import JSON, ConflictError, KubeApiError, KubeClient, NotFoundError
from .secrets import now_rfc3339

log = logging.getLogger(__name__)

MAC_KEY_SECRET = "scaivault-federation-mac-key"
MAC_KEY_FIELD = "key"


def backend_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


async def patch_status(
    client: KubeClient, namespace: str, name: str, status: BackendStatus
) -> None:
    body: JSON = {"status": status.to_cr()}
    await client.merge_patch(backend_path(namespace, name) + "/status", body)


async def read_credentials(client: KubeClient, namespace: str, path: str | None) -> Credentials:
    """The Secret a ``*Path`` config value names, in the CR's own namespace only."""
    if path is None:
        return Credentials({})
    name = secret_name_for_path(path)
    try:
        obj = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except NotFoundError:
        raise InvalidBackendConfigError(
            f"credentials Secret {name!r} (path {path!r}) not found in namespace {namespace!r}"
        ) from None
    annotated = (obj["metadata"].get("annotations") or {}).get(PATH_ANNOTATION)
    if annotated is not None and annotated != path:
        raise InvalidBackendConfigError(f"Secret {name!r} holds path {annotated!r}, not {path!r}")
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return Credentials(data)


async def request_service_account_token(
    client: KubeClient,
    namespace: str,
    service_account: str,
    expiration_seconds: int = 600,
    audience: str | None = None,
) -> str:
    """A short-lived token of ``service_account`` through TokenRequest (never stored),
    for ``audience`` when given (else the apiserver's own audiences)."""
    body: JSON = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": expiration_seconds},
    }
    if audience:
        body["spec"]["audiences"] = [audience]
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
    try:
        issued = await client.post(path, body)
    except NotFoundError:
        raise InvalidBackendConfigError(
            f"ServiceAccount {service_account!r} not found in namespace {namespace!r}"
        ) from None
    token = issued.get("status", {}).get("token")
    if not isinstance(token, str) or not token:
        raise InvalidBackendConfigError("TokenRequest returned no token")
    return token


async def load_or_create_mac_key(client: KubeClient, namespace: str) -> bytes:
    """The operator-held HMAC key, created once and then only read."""
    path = f"/api/v1/namespaces/{namespace}/secrets"
    for _ in range(3):
        try:
            obj = await client.get(f"{path}/{MAC_KEY_SECRET}")
            return base64.b64decode(obj["data"][MAC_KEY_FIELD])
        except NotFoundError:
            pass
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": MAC_KEY_SECRET,
                "labels": {"app.kubernetes.io/name": "scaivault-federation"},
            },
            "type": "Opaque",
            "data": {MAC_KEY_FIELD: base64.b64encode(pysecrets.token_bytes(32)).decode()},
        }
        try:
            await client.post(path, body)
        except ConflictError:
            continue
    raise RuntimeError(f"could not read or create Secret {namespace}/{MAC_KEY_SECRET}")


async def emit_event(
    client: KubeClient,
    body: dict[str, Any],
    *,
    reason: str,
    message: str,
    warning: bool = False,
) -> None:
    """A core/v1 Event on the CR. Failures are logged, never raised."""
    meta = body["metadata"]
    now = now_rfc3339()
    event: JSON = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": "scaivault-federation"},
        "reportingComponent": "scaivault-federation",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await client.post(f"/api/v1/namespaces/{meta['namespace']}/events", event)
    except KubeApiError as exc:
        log.warning("could not post event %s: %s", reason, exc.reason)
