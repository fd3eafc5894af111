"""The one small interface every Vault auth method implements.

A method is built from the config and the credentials Secret without any
network call, and rejects what it cannot work with (a missing role or key) as
:class:`InvalidBackendConfigError`, naming the field or key. To log in, the
client awaits :meth:`AuthMethod.login_call` (where async work such as a
Kubernetes TokenRequest happens) and runs the blocking hvac call it returns in
a worker thread, on an hvac client that carries no token. The call answers
Vault's login response; the client takes ``auth.client_token`` from it.

``token`` is the one method without a login: its token is used as given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig

#: A fresh Kubernetes ServiceAccount token (a TokenRequest in the operator).
JwtProvider = Callable[[], Awaitable[str]]

#: A blocking login through hvac: ``call(client)`` -> Vault's JSON answer.
LoginCall = Callable[[Any], Any]


@dataclass(frozen=True)
class ClientCertificate:
    """A TLS client certificate chain and its key, PEM (kept in memory only)."""

    chain: bytes = field(repr=False)
    key: bytes = field(repr=False)


class AuthMethod(ABC):
    """How one backend gets a Vault token."""

    method: ClassVar[VaultAuthMethod]
    #: where the method is mounted when ``authMount`` is not set
    default_mount: ClassVar[str] = ""

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        self.mount = (config.auth_mount or "").strip("/") or self.default_mount

    @property
    def can_login(self) -> bool:
        """Whether a new token can be had (a given token cannot be replaced)."""
        return True

    @property
    def initial_token(self) -> str | None:
        """A token to use before any login (the ``token`` method's)."""
        return None

    @property
    def login_path(self) -> str:
        """The API path of the login, for messages (never holds a credential)."""
        return f"auth/{self.mount}/login"

    @property
    def client_certificate(self) -> ClientCertificate | None:
        """The certificate to present in TLS, for methods that log in with one."""
        return None

    @abstractmethod
    async def login_call(self) -> LoginCall:
        """The blocking hvac call that logs in, with everything it sends prepared."""


def require_role(config: VaultConfig, method: VaultAuthMethod) -> str:
    if not config.role:
        raise InvalidBackendConfigError(f"{method.value} auth needs 'role' in the config")
    return config.role
