"""The ``azure-key-vault`` backend type: the secrets of an Azure Key Vault."""

from __future__ import annotations

from ..declaration import BackendTypeDeclaration
from .config import NAME, AzureConfig
from .notify import RECEIVER
from .settings import AzureSettings

TYPE = BackendTypeDeclaration(
    name=NAME,
    title="Azure Key Vault",
    config=AzureConfig,
    client=f"{__name__}.backend",
    loggers=("azure", "msal"),
    client_settings=AzureSettings,
    receiver=RECEIVER,
)
