"""Example AWS Secrets Manager data and the sample ``aws-dev`` FederationBackend, for ``dev``."""

from __future__ import annotations

from typing import Any

from scaivault_federation.paths import secret_name_for_path

from .cluster import apply
from .controlplane import ControlPlane
from .moto import MotoServer
from .samples import SECRETS, _credentials_secret, apply_sample_backend

AWS_EXAMPLES: dict[str, str | bytes] = {
    "prod/payments/db": '{"username": "payments", "password": "dev-only-payments-pw"}',
    "prod/payments/api-token": "dev-only-api-token",
    "prod/web/tls-bundle": bytes(range(256)),
}
SAMPLE_BACKEND = "aws-dev"
CREDENTIALS_PATH = "dev/aws/credentials"
CREDENTIALS_SECRET = secret_name_for_path(CREDENTIALS_PATH)


def _put(client: Any, name: str, value: str | bytes) -> None:
    field = "SecretString" if isinstance(value, str) else "SecretBinary"
    try:
        client.create_secret(Name=name, **{field: value})
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, **{field: value})


def seed_aws(cp: ControlPlane, server: MotoServer) -> dict[str, Any]:
    """Write the example secrets into moto and create the sample backend and its credentials."""
    client = server.client("secretsmanager")
    for name, value in AWS_EXAMPLES.items():
        _put(client, name, value)
    apply(
        cp,
        SECRETS,
        _credentials_secret(
            CREDENTIALS_SECRET,
            {
                "access_key_id": server.access_key_id,
                "secret_access_key": server.secret_access_key,
            },
        ),
    )
    apply_sample_backend(
        cp,
        SAMPLE_BACKEND,
        "aws-secrets-manager",
        {
            "region": server.region,
            "endpoint": server.endpoint,
            "credentialsPath": CREDENTIALS_PATH,
        },
        {"external/aws/**": "prod/**"},
    )
    return {
        "endpoint": server.endpoint,
        "region": server.region,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "sample_backend": SAMPLE_BACKEND,
    }
