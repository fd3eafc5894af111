"""``approle``: ``role_id`` and ``secret_id`` from the credentials Secret, login at
``auth/<authMount or approle>/login``."""

from __future__ import annotations

from typing import Any, ClassVar

from ...base import Credentials
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall


class AppRoleAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.APPROLE
    default_mount: ClassVar[str] = "approle"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._role_id = credentials.require_text("role_id")
        self._secret_id = credentials.require_text("secret_id")

    async def login_call(self) -> LoginCall:
        role_id, secret_id, mount = self._role_id, self._secret_id, self.mount

        def call(client: Any) -> Any:
            return client.auth.approle.login(role_id, secret_id, use_token=False, mount_point=mount)

        return call
