"""``token``: the credentials Secret holds ``token``, used as is and never replaced
(so a rejected token is an ``AuthenticationError``, and closing the backend
leaves it alone)."""

from __future__ import annotations

from typing import ClassVar

from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall


class TokenAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.TOKEN

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._token = credentials.require_text("token")

    @property
    def can_login(self) -> bool:
        return False

    @property
    def initial_token(self) -> str | None:
        return self._token

    async def login_call(self) -> LoginCall:
        raise InvalidBackendConfigError("a configured Vault token cannot log in again")
