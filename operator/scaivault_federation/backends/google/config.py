"""``spec.config`` of a ``google-secret-manager`` backend (no SDK here: the models and
the CRD are made from it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ...models.config import (
    BackendConfig,
    Container,
    CredentialsSecret,
    EndpointUrlOrHost,
    ScaiVaultPath,
)
from ...models.endpoint import Endpoint

NAME = "google-secret-manager"


class GoogleConfig(BackendConfig):
    """``spec.config`` of a ``google-secret-manager`` backend."""

    cloud_hosts = (".googleapis.com",)

    project: Annotated[str, Container()] = Field(
        min_length=1, max_length=256, description="the project id"
    )
    credentials_path: Annotated[ScaiVaultPath, CredentialsSecret(("credentials.json",))] | None = (
        Field(
            default=None,
            description="ScaiVault path of the credentials Secret (labelled "
            "federation.scaivault.io/credentials=true) holding credentials.json, a "
            "service-account key; absent means the platform identity (ADC)",
        )
    )
    endpoint: Annotated[EndpointUrlOrHost, Container()] | None = Field(
        default=None,
        description="the Secret Manager endpoint, a URL or host[:port] (default: Google's)",
    )

    def credentials_user(self) -> str:
        return "Google Secret Manager"

    def ambient_identity(self) -> str | None:
        if self.credentials_path is not None:
            return None
        return "the operator's Google identity (ADC)"

    def sends_identity_to(self, endpoint: Endpoint) -> bool:
        """Not to a loopback endpoint reached in plaintext: an emulator, which the client
        talks to anonymously (see :mod:`.auth`)."""
        if endpoint.scheme == "https":
            return True
        address = endpoint.address
        loopback = endpoint.host == "localhost" or (address is not None and address.is_loopback)
        return not (loopback and endpoint.scheme in ("http", ""))
