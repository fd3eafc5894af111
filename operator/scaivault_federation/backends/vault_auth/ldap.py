"""``ldap``: ``username`` and ``password`` from the credentials Secret, login at
``auth/<authMount or ldap>/login/<username>``; Vault binds to its LDAP server
with them."""

from __future__ import annotations

from typing import Any, ClassVar

from ...models.config import VaultAuthMethod, VaultConfig
from ..base import Credentials
from .base import AuthMethod, JwtProvider, LoginCall


class LdapAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.LDAP
    default_mount: ClassVar[str] = "ldap"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._username = credentials.require_text("username")
        self._password = credentials.require_text("password")

    async def login_call(self) -> LoginCall:
        username, password, mount = self._username, self._password, self.mount

        def call(client: Any) -> Any:
            return client.auth.ldap.login(username, password, use_token=False, mount_point=mount)

        return call
