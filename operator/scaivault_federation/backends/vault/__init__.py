"""The ``hashicorp-vault`` backend type: the KV engines of HashiCorp Vault and OpenBao."""

from __future__ import annotations

from ..declaration import BackendTypeDeclaration
from .config import NAME, VaultConfig

TYPE = BackendTypeDeclaration(
    name=NAME,
    title="HashiCorp Vault",
    config=VaultConfig,
    client=f"{__name__}.backend",
    loggers=("hvac",),
)
