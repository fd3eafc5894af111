"""``userpass``: ``username`` and ``password`` from the credentials Secret, login
at ``auth/<authMount or userpass>/login/<username>``."""

from __future__ import annotations

from typing import Any, ClassVar

from ...models.config import VaultAuthMethod, VaultConfig
from ..base import Credentials
from .base import AuthMethod, JwtProvider, LoginCall


class UserpassAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.USERPASS
    default_mount: ClassVar[str] = "userpass"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._username = credentials.require_text("username")
        self._password = credentials.require_text("password")

    async def login_call(self) -> LoginCall:
        username, password, mount = self._username, self._password, self.mount

        def call(client: Any) -> Any:
            return client.auth.userpass.login(
                username, password, use_token=False, mount_point=mount
            )

        return call
