"""``cert``: a TLS client certificate (``tls.crt``, with any intermediates) and
its key (``tls.key``) from the credentials Secret, as in a
``kubernetes.io/tls`` Secret; login at ``auth/<authMount or cert>/login``,
against the certificate role ``role`` when set (else any role that matches).

The certificate is presented in the TLS handshake of the connections to Vault,
so the endpoint must be https. The key stays in memory; see
:mod:`..client` for how it gets into the TLS context.

hvac's own ``auth.cert.login`` wants file paths of the certificate and key;
the login is therefore sent through hvac's adapter (``adapter.login``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hvac import utils as hvac_utils

from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, ClientCertificate, JwtProvider, LoginCall

CERT_KEY = "tls.crt"
KEY_KEY = "tls.key"


class CertAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.CERT
    default_mount: ClassVar[str] = "cert"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        if not config.endpoint.lower().startswith("https://"):
            raise InvalidBackendConfigError("cert auth needs an https endpoint")
        chain = credentials.require(CERT_KEY)
        key = credentials.require(KEY_KEY)
        if b"-----BEGIN CERTIFICATE-----" not in chain:
            raise InvalidBackendConfigError(
                f"credentials key {CERT_KEY!r} is not a PEM certificate"
            )
        if b"PRIVATE KEY-----" not in key:
            raise InvalidBackendConfigError(f"credentials key {KEY_KEY!r} is not a PEM private key")
        self._certificate = ClientCertificate(chain, key)
        self._role = config.role

    @property
    def client_certificate(self) -> ClientCertificate | None:
        return self._certificate

    async def login_call(self) -> LoginCall:
        url = hvac_utils.format_url("/v1/auth/{mount}/login", mount=self.mount)
        body = {"name": self._role} if self._role else {}

        def call(client: Any) -> Any:
            return client.adapter.login(url, use_token=False, json=body)

        return call
