"""``userpass``: ``username`` and ``password`` from the credentials Secret, login
at ``auth/<authMount or userpass>/login/<username>``. :class:`PasswordAuth` is the
shape every username/password method shares (``ldap`` too)."""

from __future__ import annotations

from typing import Any, ClassVar

from ...base import Credentials
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall


class PasswordAuth(AuthMethod):
    """A login with ``username`` and ``password`` through hvac's ``client.auth.<api>``."""

    hvac_api: ClassVar[str]

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._username = credentials.require_text("username")
        self._password = credentials.require_text("password")

    async def login_call(self) -> LoginCall:
        username, password, mount, api = self._username, self._password, self.mount, self.hvac_api

        def call(client: Any) -> Any:
            login = getattr(client.auth, api).login
            return login(username, password, use_token=False, mount_point=mount)

        return call


class UserpassAuth(PasswordAuth):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.USERPASS
    default_mount: ClassVar[str] = "userpass"
    hvac_api: ClassVar[str] = "userpass"
