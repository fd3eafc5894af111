"""``jwt``: ``role`` from the config and a JWT, from the credentials key ``jwt``
or, without a credentials Secret, a ServiceAccount token from a TokenRequest for
``serviceAccount`` (default ``default``) bound to ``audience`` (default
``vault``), as for ``kubernetes``; login at
``auth/<authMount or jwt>/login``. Vault checks the JWT's signature itself
(the cluster's issuer keys or JWKS in its jwt auth config), with no
TokenReview."""

from __future__ import annotations

from typing import Any, ClassVar

from ...base import Credentials
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall, require_role
from .kubernetes import JwtSource


class JwtAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.JWT
    default_mount: ClassVar[str] = "jwt"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._role = require_role(config, self.method)
        self._jwt = JwtSource(self.method, credentials, "jwt", jwt_provider)

    async def login_call(self) -> LoginCall:
        role, jwt, mount = self._role, await self._jwt.jwt(), self.mount

        def call(client: Any) -> Any:
            return client.auth.jwt.jwt_login(role, jwt, use_token=False, path=mount)

        return call
