"""Vault auth methods, one module each behind :class:`AuthMethod`.

``authMethod`` in the config picks the module: ``token``, ``approle``,
``kubernetes``, ``jwt``, ``userpass``, ``ldap``, ``cert``, ``aws`` and
``gcp``. Each reads its own fields and credentials keys (see the module) and
builds the hvac login call; :mod:`..client` runs it, keeps the token,
logs in again before the lease runs out and after a 403, and revokes the token
on close.
"""

from __future__ import annotations

from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig
from .approle import AppRoleAuth
from .aws import AwsAuth
from .base import AuthMethod, ClientCertificate, JwtProvider, LoginCall
from .cert import CertAuth
from .gcp import GcpAuth
from .jwt import JwtAuth
from .kubernetes import KubernetesAuth
from .ldap import LdapAuth
from .token import TokenAuth
from .userpass import UserpassAuth

METHODS: dict[VaultAuthMethod, type[AuthMethod]] = {
    cls.method: cls
    for cls in (
        TokenAuth,
        AppRoleAuth,
        KubernetesAuth,
        JwtAuth,
        UserpassAuth,
        LdapAuth,
        CertAuth,
        AwsAuth,
        GcpAuth,
    )
}


def auth_method_for(
    config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None = None
) -> AuthMethod:
    """The auth method ``config`` names, checked against the credentials (no network)."""
    cls = METHODS.get(config.auth_method)
    if cls is None:  # pragma: no cover - every enum value has a module
        raise InvalidBackendConfigError(f"unsupported auth method {config.auth_method!r}")
    return cls(config, credentials, jwt_provider)


__all__ = [
    "METHODS",
    "AuthMethod",
    "ClientCertificate",
    "JwtProvider",
    "LoginCall",
    "auth_method_for",
]
