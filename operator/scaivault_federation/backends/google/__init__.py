"""The ``google-secret-manager`` backend type: Google Secret Manager."""

from __future__ import annotations

from ..declaration import BackendTypeDeclaration
from .config import NAME, GoogleConfig
from .notify import RECEIVER
from .settings import GooglePushSettings, GoogleSettings

TYPE = BackendTypeDeclaration(
    name=NAME,
    title="Google Secret Manager",
    config=GoogleConfig,
    client=f"{__name__}.backend",
    loggers=("google", "grpc"),
    client_settings=GoogleSettings,
    receiver=RECEIVER,
    receiver_settings=GooglePushSettings,
)
