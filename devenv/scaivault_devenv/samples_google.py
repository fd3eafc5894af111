"""Example Google Secret Manager data and the sample ``google-dev`` backend, for ``dev``."""

from __future__ import annotations

from typing import Any

from scaivault_federation.backends.google.names import google_name
from scaivault_federation.paths import secret_name_for_path

from .cluster import apply
from .controlplane import ControlPlane
from .gsm import GoogleEmulator
from .samples import SECRETS, _credentials_secret, apply_sample_backend

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
    apply_sample_backend(
        cp,
        SAMPLE_BACKEND,
        "google-secret-manager",
        {
            "project": emulator.project,
            "endpoint": emulator.endpoint,
            "credentialsPath": CREDENTIALS_PATH,
        },
        {"external/google/**": "apps/**"},
    )
    return {
        "endpoint": emulator.endpoint,
        "project": emulator.project,
        "admin_credentials_file": str(emulator.key_path("admin")),
        "sample_backend": SAMPLE_BACKEND,
    }
