"""Example Google Secret Manager data and the sample ``google-dev`` backend, for ``dev``."""

from __future__ import annotations

from typing import Any

from ..backends.naming import google_name
from ..paths import secret_name_for_path
from .cluster import apply
from .controlplane import ControlPlane
from .gsm import GoogleEmulator
from .samples import BACKENDS, SECRETS, _credentials_secret

GOOGLE_EXAMPLES: dict[str, str | bytes] = {
    "apps/payments/db": '{"username": "payments", "password": "dev-only-payments-pw"}',
    "apps/payments/api-token": "dev-only-api-token",
    "apps/web/tls-bundle": bytes(range(256)),
}
SAMPLE_BACKEND = "google-dev"
CREDENTIALS_PATH = "dev/google/credentials"
CREDENTIALS_SECRET = secret_name_for_path(CREDENTIALS_PATH)


def seed_google(cp: ControlPlane, emulator: GoogleEmulator) -> dict[str, Any]:
    """Write the example secrets into the emulator and create the sample backend and its key.

    The sample reads with the emulator's ``reader`` service account; the
    ``admin`` key file named in the result may write (through the client
    library, at ``endpoint`` over plaintext gRPC).
    """
    for path, value in GOOGLE_EXAMPLES.items():
        emulator.put(google_name(path), value)
    apply(
        cp,
        SECRETS,
        _credentials_secret(CREDENTIALS_SECRET, {"credentials.json": emulator.key_json("reader")}),
    )
    apply(
        cp,
        BACKENDS,
        {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": SAMPLE_BACKEND},
            "spec": {
                "type": "google-secret-manager",
                "config": {
                    "project": emulator.project,
                    "endpoint": emulator.endpoint,
                    "credentialsPath": CREDENTIALS_PATH,
                },
                "pathMapping": {"external/google/**": "apps/**"},
                "mode": "sync",
                "syncInterval": "30s",
            },
        },
    )
    return {
        "endpoint": emulator.endpoint,
        "project": emulator.project,
        "admin_credentials_file": str(emulator.key_path("admin")),
        "sample_backend": SAMPLE_BACKEND,
    }
