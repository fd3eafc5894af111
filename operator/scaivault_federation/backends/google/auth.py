"""How the Google Secret Manager backend reaches the API and who it is there.

The rule, decided once from the config and the credentials Secret:

Where (``endpoint``):

- absent: ``secretmanager.googleapis.com:443`` over TLS.
- ``https://host[:port]``, or ``host[:port]`` whose host is not a loopback
  address: TLS to that host (regional or private endpoints; port 443 when
  none is given).
- ``http://host:port``, or ``host:port`` whose host is a loopback address
  (``localhost``, ``127.0.0.0/8``, ``::1``): plaintext gRPC, for emulators.

Who (``serviceAccount``, or the credentials Secret named by ``credentialsPath``):

- ``serviceAccount``: the Google service account that ServiceAccount names,
  through workload identity federation (keyless: :mod:`.keyless`); its access
  token goes with each call, over TLS or, to a loopback address only, over a
  plaintext channel.

- it holds ``credentials.json``: that service-account key (scope
  ``cloud-platform``), used as self-signed JWTs, so no token endpoint is
  called. An ``external_account`` (workload identity federation) or
  ``authorized_user`` JSON is accepted too. Over plaintext the key is only
  sent to a loopback address.
- no ``credentials.json`` and TLS: Application Default Credentials, i.e.
  workload identity on GKE (``google.auth.default()``), looked up at the
  first call, not when the backend is built; only for a config that names no
  credentials Secret, in a namespace allowed the operator's own identity
  (``Credentials.ambient``), else a configuration error.
- no ``credentials.json`` and plaintext: anonymous (``AnonymousCredentials``):
  an emulator needs no identity, and ambient credentials are never sent to one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import google.auth
import grpc
from google.auth import credentials as ga_credentials
from google.auth import exceptions as auth_exceptions
from google.auth.transport import grpc as auth_grpc
from google.auth.transport import requests as auth_requests
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)
from google.oauth2 import service_account

from ...models.endpoint import EndpointSyntaxError, parse_endpoint
from ..base import Credentials
from ..errors import InvalidBackendConfigError
from .config import GoogleConfig
from .keyless import FederatedToken
from .settings import GoogleSettings

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_HOST = "secretmanager.googleapis.com"
KEY_FILE = "credentials.json"

AuthKind = Literal[
    "workload-identity", "service-account", "external", "application-default", "anonymous"
]


@dataclass(frozen=True)
class ConnectionPlan:
    """Where the backend connects and with which identity."""

    target: str  # host:port
    tls: bool
    auth: AuthKind
    credentials: ga_credentials.Credentials | None = field(default=None, repr=False)
    #: a keyless backend's access token, sent with each call
    token: FederatedToken | None = field(default=None, repr=False)


def grpc_target(endpoint: str | None) -> tuple[str, bool]:
    """``(host:port, tls)`` for a configured endpoint (see the module doc), read by the
    one endpoint parser."""
    if not endpoint:
        return f"{DEFAULT_HOST}:443", True
    try:
        parsed = parse_endpoint(endpoint, bare=True)
    except EndpointSyntaxError as exc:
        raise InvalidBackendConfigError(f"endpoint: {exc}") from None
    if parsed.path.strip("/"):
        raise InvalidBackendConfigError("endpoint must be host[:port] without a path")
    tls = parsed.scheme == "https" or (not parsed.scheme and not is_loopback(parsed.host))
    port = parsed.port
    if port is None:
        if not tls:
            raise InvalidBackendConfigError("endpoint: a plaintext endpoint needs a port")
        port = 443
    shown = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{shown}:{port}", tls


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plan_connection(
    config: GoogleConfig, credentials: Credentials, settings: GoogleSettings | None = None
) -> ConnectionPlan:
    """Decide transport and identity without any network call."""
    target, tls = grpc_target(config.endpoint)
    identity = credentials.workload_identity
    if identity is not None:
        token = FederatedToken(
            identity, config.workload_identity_provider, settings or GoogleSettings()
        )
        anonymous = ga_credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
        return ConnectionPlan(target, tls, "workload-identity", anonymous, token)
    raw = credentials.get(KEY_FILE)
    if raw is not None and raw.strip():
        kind, creds = _key_credentials(raw)
        if not tls and not is_loopback(target.rsplit(":", 1)[0].strip("[]")):
            raise InvalidBackendConfigError(
                "a plaintext endpoint only receives credentials on a loopback address; "
                "use an https endpoint"
            )
        return ConnectionPlan(target, tls, kind, creds)
    if tls:
        if not credentials.ambient:
            raise credentials.no_static((KEY_FILE,), "Google Secret Manager")
        return ConnectionPlan(target, True, "application-default")
    anonymous = ga_credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
    return ConnectionPlan(target, False, "anonymous", anonymous)


def _key_credentials(raw: bytes) -> tuple[AuthKind, ga_credentials.Credentials]:
    problem = f"credentials key {KEY_FILE!r} is not a Google credentials JSON document"
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidBackendConfigError(problem) from None
    if not isinstance(info, dict):
        raise InvalidBackendConfigError(problem)
    kind = info.get("type")
    try:
        if kind == "service_account":
            from_info = service_account.Credentials.from_service_account_info
            key = from_info(info, scopes=[CLOUD_PLATFORM])  # type: ignore[no-untyped-call]
            return "service-account", key.with_always_use_jwt_access(True)
        if kind in ("external_account", "authorized_user", "impersonated_service_account"):
            load = google.auth.load_credentials_from_dict
            loaded, _ = load(info, scopes=[CLOUD_PLATFORM])  # type: ignore[no-untyped-call]
            return "external", loaded
    except (ValueError, KeyError, TypeError, auth_exceptions.GoogleAuthError):
        raise InvalidBackendConfigError(
            f"credentials key {KEY_FILE!r}: the {kind} credentials are incomplete or invalid"
        ) from None
    raise InvalidBackendConfigError(
        f"{problem} (type {kind!r}; expected a service-account key)"
        if isinstance(kind, str)
        else problem
    )


def _application_default() -> ga_credentials.Credentials:
    try:
        creds, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    except auth_exceptions.DefaultCredentialsError:
        raise InvalidBackendConfigError(
            "no credentialsPath is set and no application default credentials "
            "(workload identity) were found"
        ) from None
    return creds


async def open_client(plan: ConnectionPlan) -> SecretManagerServiceAsyncClient:
    """An async Secret Manager client for ``plan`` (must run inside the event loop)."""
    creds = plan.credentials
    if plan.auth == "application-default":
        creds = await asyncio.to_thread(_application_default)
    if plan.tls:
        transport = SecretManagerServiceGrpcAsyncIOTransport(
            host=plan.target, credentials=creds, always_use_jwt_access=True
        )
    else:
        sends = plan.auth != "anonymous"
        keyless = plan.auth == "workload-identity"
        transport = SecretManagerServiceGrpcAsyncIOTransport(
            channel=_plaintext_channel(plan.target, creds if sends and not keyless else None, sends)
        )
    return SecretManagerServiceAsyncClient(transport=transport)


def _plaintext_channel(
    target: str, creds: ga_credentials.Credentials | None, loopback_only: bool
) -> Any:
    """A plaintext channel; one that carries credentials (``loopback_only``: call
    credentials from ``creds``, or a token each call adds) reaches loopback peers only."""
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    if not loopback_only:
        return grpc.aio.insecure_channel(target, options=options)
    # gRPC only attaches call credentials to secure channels; "local" channel
    # credentials are plaintext on the wire and limited to loopback peers.
    local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    if creds is None:
        return grpc.aio.secure_channel(target, local, options=options)
    make_plugin = auth_grpc.AuthMetadataPlugin
    plugin = make_plugin(creds, auth_requests.Request())  # type: ignore[no-untyped-call]
    channel_creds = grpc.composite_channel_credentials(
        local, grpc.metadata_call_credentials(plugin)
    )
    return grpc.aio.secure_channel(target, channel_creds, options=options)
