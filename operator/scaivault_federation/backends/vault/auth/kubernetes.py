"""``kubernetes``: ``role`` from the config and a ServiceAccount JWT, from the
credentials key ``token`` or, without a credentials Secret, from a TokenRequest
for ``serviceAccount`` (default ``default``) bound to ``audience`` (default
``vault``, which Vault's role must bind), made only for an account that opted
in (:mod:`..bound_tokens`); login at ``auth/<authMount or kubernetes>/login``,
where Vault reviews the JWT with the cluster's TokenReview."""

from __future__ import annotations

from typing import Any, ClassVar

from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall, require_role


class JwtSource:
    """A JWT from a credentials key, or else from a token provider."""

    def __init__(
        self,
        method: VaultAuthMethod,
        credentials: Credentials,
        key: str,
        provider: JwtProvider | None,
    ) -> None:
        self._fixed: str | None = None
        self._provider: JwtProvider | None = None
        if credentials.get(key):
            self._fixed = credentials.require_text(key)
        elif provider is not None:
            self._provider = provider
        else:
            raise InvalidBackendConfigError(
                f"{method.value} auth needs a JWT: credentials key {key!r} "
                "or a service-account token provider"
            )

    async def jwt(self) -> str:
        if self._fixed is not None:
            return self._fixed
        assert self._provider is not None
        return (await self._provider()).strip()


class KubernetesAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.KUBERNETES
    default_mount: ClassVar[str] = "kubernetes"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._role = require_role(config, self.method)
        self._jwt = JwtSource(self.method, credentials, "token", jwt_provider)

    async def login_call(self) -> LoginCall:
        role, jwt, mount = self._role, await self._jwt.jwt(), self.mount

        def call(client: Any) -> Any:
            return client.auth.kubernetes.login(role, jwt, use_token=False, mount_point=mount)

        return call
