"""``spec.config`` of a ``google-secret-manager`` backend (no SDK here: the models and
the CRD are made from it)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ...models.config import (
    Container,
    CredentialsSecret,
    EndpointUrlOrHost,
    ScaiVaultPath,
    ServiceAccountName,
    WorkloadIdentityConfig,
)
from ...models.endpoint import Endpoint

NAME = "google-secret-manager"
#: the ServiceAccount annotation naming the Google service account a keyless backend
#: impersonates (GKE workload identity's)
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
#: a workload identity pool provider's full name: the audience of its token exchange
PROVIDER_PATTERN = (
    r"^//iam\.googleapis\.com/projects/[a-z0-9-]{1,64}/locations/global/"
    r"workloadIdentityPools/[a-z0-9-]{1,64}/providers/[a-z0-9-]{1,64}$"
)


class GoogleConfig(WorkloadIdentityConfig):
    """``spec.config`` of a ``google-secret-manager`` backend."""

    cloud_hosts = (".googleapis.com",)
    required_annotations = (GSA_ANNOTATION,)
    not_with_service_account = {
        "credentials_path": "the ServiceAccount's Google service account is the identity, no "
        "key is read"
    }
    only_with_service_account = ("workload_identity_provider",)

    service_account: ServiceAccountName | None = Field(
        default=None,
        description="keyless: the ServiceAccount of this namespace whose token (audience: the "
        "workload identity provider) is exchanged at Google's STS, then for the Google "
        f"service account its annotation {GSA_ANNOTATION} names (impersonation); its "
        "annotation federation.scaivault.io/token-for must name this backend. Not with "
        "credentialsPath",
    )

    project: Annotated[str, Container()] = Field(
        min_length=1, max_length=256, description="the project id"
    )
    credentials_path: Annotated[ScaiVaultPath, CredentialsSecret(("credentials.json",))] | None = (
        Field(
            default=None,
            description="ScaiVault path of the credentials Secret (labelled "
            "federation.scaivault.io/credentials=true) holding credentials.json, a "
            "service-account key; absent (and no serviceAccount) means the platform identity "
            "(ADC)",
        )
    )
    endpoint: Annotated[EndpointUrlOrHost, Container()] | None = Field(
        default=None,
        description="the Secret Manager endpoint, a URL or host[:port] (default: Google's)",
    )

    workload_identity_provider: str | None = Field(
        default=None,
        pattern=PROVIDER_PATTERN,
        max_length=512,
        description="(with serviceAccount) the workload identity pool provider trusting the "
        "cluster's issuer, //iam.googleapis.com/projects/<number>/locations/global/"
        "workloadIdentityPools/<pool>/providers/<provider> (default: the operator's "
        "google_workload_identity_provider setting)",
    )

    def credentials_user(self) -> str:
        return "Google Secret Manager"

    def ambient_identity(self) -> str | None:
        if self.credentials_path is not None or self.service_account is not None:
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

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        return cls.keyless_rules(NAME)
